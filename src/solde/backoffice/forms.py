"""The console's forms: every action carries a mandatory reason."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from solde.money import InvalidAmount, parse_eur
from solde.topups.models import AdjustmentKind

REASON_HELP = _("Obligatoire. Elle est enregistrée avec votre nom dans l'historique du client.")


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=_("Raison"),
        help_text=REASON_HELP,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class AdjustmentForm(ReasonForm):
    direction = forms.ChoiceField(
        label=_("Sens"),
        choices=[("credit", _("Créditer le solde")), ("debit", _("Débiter le solde"))],
        widget=forms.RadioSelect,
        initial="credit",
    )
    amount = forms.CharField(
        label=_("Montant en euros"),
        help_text=_("Par exemple 25,50"),
        max_length=12,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )
    kind = forms.ChoiceField(label=_("Type"), choices=AdjustmentKind.choices)
    field_order = ["direction", "amount", "kind", "reason"]

    def clean_amount(self) -> int:
        text = self.cleaned_data["amount"].replace(",", ".").replace("€", "").strip()
        try:
            cents = parse_eur(text)
        except InvalidAmount:
            raise forms.ValidationError(
                _("Indiquez un montant en euros avec au plus deux décimales, par exemple 25,50.")
            ) from None
        if cents <= 0:
            raise forms.ValidationError(
                _("Indiquez un montant positif ; choisissez le sens au-dessus.")
            )
        return cents

    def signed_cents(self) -> int:
        cents = self.cleaned_data["amount"]
        return -cents if self.cleaned_data["direction"] == "debit" else cents


class PauseForm(ReasonForm):
    until = forms.DateField(
        label=_("Suspendre les interruptions jusqu'au (inclus)"),
        required=False,
        help_text=_("Laissez vide pour permettre de nouveau les interruptions."),
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    field_order = ["until", "reason"]


class OrderForm(ReasonForm):
    what = forms.ChoiceField(
        label=_("Ordre"),
        choices=[
            ("reconnect", _("Rétablir l'alimentation (ou lever la limitation)")),
            ("display_balance", _("Afficher le solde sur le compteur")),
        ],
        widget=forms.RadioSelect,
    )
    field_order = ["what", "reason"]


class ContactForm(ReasonForm):
    first_name = forms.CharField(label=_("Prénom"), max_length=100, required=False)
    last_name = forms.CharField(label=_("Nom"), max_length=100)
    email = forms.EmailField(label=_("E-mail"), required=False)
    phone = forms.CharField(label=_("Téléphone"), max_length=30, required=False)
    language = forms.ChoiceField(label=_("Langue"), choices=settings.LANGUAGES)
    field_order = ["first_name", "last_name", "email", "phone", "language", "reason"]

    def clean_phone(self) -> str:
        phone = self.cleaned_data["phone"].replace(" ", "").replace(".", "").replace("/", "")
        if phone and not (phone.lstrip("+").isdigit() and 8 <= len(phone.lstrip("+")) <= 15):
            raise forms.ValidationError(
                _("Indiquez un numéro de téléphone, par exemple +32470123456.")
            )
        if phone.startswith("0") and not phone.startswith("00"):
            phone = "+32" + phone[1:]
        return phone


class SuspenseForm(ReasonForm):
    reference = forms.CharField(
        label=_("EAN ou référence client (13 chiffres)"),
        max_length=40,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )
    field_order = ["reference", "reason"]


class HeldRunForm(ReasonForm):
    decision = forms.ChoiceField(
        label=_("Proposition"),
        choices=[
            ("release", _("Confirmer : envoyer les interruptions")),
            ("reject", _("Annuler : n'envoyer aucune interruption")),
        ],
        widget=forms.RadioSelect,
    )
    field_order = ["decision", "reason"]


class DecideForm(ReasonForm):
    decision = forms.ChoiceField(
        label=_("Décision"),
        choices=[("approve", _("Approuver et exécuter")), ("refuse", _("Refuser"))],
        widget=forms.RadioSelect,
    )
    field_order = ["decision", "reason"]


class ErasureForm(ReasonForm):
    mode = forms.ChoiceField(
        label=_("Action"),
        choices=[
            ("dry_run", _("Simulation : montrer ce qui serait effacé")),
            ("erase", _("Effacer définitivement les données personnelles")),
        ],
        widget=forms.RadioSelect,
        initial="dry_run",
    )
    field_order = ["mode", "reason"]
