"""Portal forms. Labels and errors are French (reference) through gettext."""

from __future__ import annotations

import re

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _

from solde import clock
from solde.money import InvalidAmount, parse_eur

TOPUP_MIN_CENTS = 500
TOPUP_MAX_CENTS = 25000
_PHONE = re.compile(r"^\+?[0-9 ./()-]{8,20}$")


def cents_from_text(text: str) -> int:
    """'12,50' or '12.50' or '12' → 1250; anything else raises InvalidAmount."""
    return parse_eur((text or "").strip().replace(",", ".").replace("€", "").strip())


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("Code d'activation"),
        max_length=30,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "off",
                "autocapitalize": "characters",
                "spellcheck": "false",
                "placeholder": "PP-XXXX-XXXX",
            }
        ),
    )


class PersonalDataForm(forms.Form):
    first_name = forms.CharField(label=_("Prénom"), max_length=100)
    last_name = forms.CharField(label=_("Nom"), max_length=100)
    email = forms.EmailField(
        label=_("Adresse e-mail"),
        help_text=_("Elle deviendra votre identifiant pour vous connecter."),
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    phone = forms.CharField(
        label=_("Téléphone"),
        max_length=30,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}),
    )
    language = forms.ChoiceField(label=_("Langue de vos messages"), choices=settings.LANGUAGES)

    def clean_phone(self) -> str:
        phone = self.cleaned_data["phone"].strip()
        if phone and not _PHONE.match(phone):
            raise forms.ValidationError(
                _("Ce numéro de téléphone n'est pas valable. Exemple : +32 470 12 34 56.")
            )
        return phone


class EmailLoginForm(AuthenticationForm):
    """Django's login form; the login is the e-mail address, matched case-insensitively."""

    username = forms.EmailField(
        label=_("Adresse e-mail"),
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )

    error_messages = {
        "invalid_login": _(
            "Adresse e-mail ou mot de passe incorrect. Vérifiez-les et réessayez, ou choisissez "
            "« Mot de passe oublié ? »."
        ),
        "inactive": _("Ce compte est désactivé. Contactez notre service clientèle."),
    }

    def clean_username(self) -> str:
        return self.cleaned_data["username"].strip().lower()


class CustomerPasswordResetForm(PasswordResetForm):
    """Django's reset form, also for a customer who lost the confirmation e-mail before choosing
    a first password (Django skips users without a usable password)."""

    def get_users(self, email: str):
        users = get_user_model()._default_manager.filter(email__iexact=email, is_active=True)
        return (u for u in users if u.has_usable_password() or hasattr(u, "customer"))

    def send_mail(
        self,
        subject_template_name,
        email_template_name,
        context,
        from_email,
        to_email,
        html_email_template_name=None,
    ):
        """In the customer's saved language, as text and HTML (like every Solde e-mail)."""
        from django.core.mail import EmailMultiAlternatives
        from django.template.loader import render_to_string
        from django.utils import translation

        from solde.notifications.render import email_html

        customer = getattr(context.get("user"), "customer", None)
        language = getattr(customer, "language", None) or translation.get_language() or "fr"
        with translation.override(language):
            subject = "".join(render_to_string(subject_template_name, context).splitlines())
            body = render_to_string(email_template_name, context)
            mail = EmailMultiAlternatives(subject, body, from_email, [to_email])
            mail.attach_alternative(email_html(subject, body, language), "text/html")
        mail.send()


class TopupForm(forms.Form):
    METHODS = [("bancontact", "Bancontact"), ("creditcard", _("Carte de crédit"))]

    method = forms.ChoiceField(
        label=_("Moyen de paiement"),
        choices=METHODS,
        widget=forms.RadioSelect,
        initial="bancontact",
    )
    amount = forms.CharField(
        label=_("Montant (€)"),
        help_text=_("Entre 5 et 250 €."),
        max_length=12,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )
    remember = forms.BooleanField(
        label=_("Se souvenir de mes coordonnées bancaires pour mes prochaines recharges"),
        required=False,
    )

    def clean_amount(self) -> int:
        try:
            cents = cents_from_text(self.cleaned_data["amount"])
        except InvalidAmount:
            raise forms.ValidationError(
                _("Indiquez un montant en euros, par exemple 20 ou 12,50.")
            ) from None
        if not TOPUP_MIN_CENTS <= cents <= TOPUP_MAX_CENTS:
            raise forms.ValidationError(_("Le montant doit être compris entre 5 et 250 €."))
        return cents


class HistoryFilterForm(forms.Form):
    KINDS = [
        ("", _("Tout")),
        ("topup", _("Recharges")),
        ("charge", _("Consommation")),
        ("other", _("Autres opérations")),
    ]
    kind = forms.ChoiceField(label=_("Type"), choices=KINDS, required=False)
    start = forms.DateField(
        label=_("Du"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        label=_("Au"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self):
        data = super().clean()
        for name in ("start", "end"):
            if data.get(name) and not clock.in_calendar(data[name]):
                self.add_error(
                    name,
                    _("Choisissez une date entre le %(first)s et le %(last)s.")
                    % {
                        "first": date_format(clock.FIRST_DAY, "SHORT_DATE_FORMAT"),
                        "last": date_format(clock.LAST_DAY, "SHORT_DATE_FORMAT"),
                    },
                )  # also drops the field from cleaned_data
        if data.get("start") and data.get("end") and data["start"] > data["end"]:
            raise forms.ValidationError(_("La date de début doit précéder la date de fin."))
        return data


class ThresholdForm(forms.Form):
    threshold = forms.CharField(
        label=_("M'alerter quand mon solde passe sous (€)"),
        required=False,
        max_length=12,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )
    days = forms.IntegerField(
        label=_("M'alerter quand il me reste moins de (jours)"),
        required=False,
        min_value=0,
        max_value=60,
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )

    def clean_threshold(self) -> int | None:
        text = self.cleaned_data["threshold"]
        if not text.strip():
            return None
        try:
            cents = cents_from_text(text)
        except InvalidAmount:
            raise forms.ValidationError(
                _("Indiquez un montant en euros, par exemple 10 ou 7,50.")
            ) from None
        if not 0 <= cents <= 25000:
            raise forms.ValidationError(_("Le seuil doit être compris entre 0 et 250 €."))
        return cents


class ChannelsForm(forms.Form):
    email = forms.BooleanField(label=_("Par e-mail"), required=False)
    sms = forms.BooleanField(label=_("Par SMS"), required=False)
    letter = forms.BooleanField(label=_("Par courrier"), required=False)

    def clean(self):
        data = super().clean()
        if not (data.get("email") or data.get("sms") or data.get("letter")):
            raise forms.ValidationError(_("Choisissez au moins un moyen de vous prévenir."))
        return data


class RecipientForm(forms.Form):
    name = forms.CharField(label=_("Nom"), max_length=100)
    email = forms.EmailField(label=_("Adresse e-mail"), required=False)
    phone = forms.CharField(
        label=_("Téléphone mobile"),
        max_length=30,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "tel"}),
    )

    def clean(self):
        data = super().clean()
        phone = (data.get("phone") or "").strip()
        if phone and not _PHONE.match(phone):
            self.add_error("phone", _("Ce numéro de téléphone n'est pas valable."))
        if not data.get("email") and not phone:
            raise forms.ValidationError(_("Indiquez une adresse e-mail ou un numéro de téléphone."))
        return data
