"""Operators' screens for top-ups: partners, payments, bank lines, suspense, manual moves."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext_lazy as _

from solde.api.keys import create_key
from solde.money import InvalidAmount, format_eur, parse_eur
from solde.prepayment.models import PrepaymentAccount
from solde.topups import bank, online, services
from solde.topups.camt import CamtError
from solde.topups.models import (
    AdjustmentKind,
    BankLine,
    BankStatement,
    LineOutcome,
    ManualAdjustment,
    OnlinePayment,
    Partner,
    SuspenseItem,
    SuspenseStatus,
    Topup,
    WebhookCall,
)
from solde.topups.providers import ProviderError

MAX_STATEMENT_BYTES = 50 * 1024 * 1024


def _eur(cents: int | None) -> str:
    return "" if cents is None else f"{format_eur(cents)} €"


class ReadOnlyMixin:
    """Rows that are history: shown, never edited or deleted by hand."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Partner)
class PartnerAdmin(admin.ModelAdmin):
    list_display = ("name", "channel", "api_key", "active", "created_at")
    list_filter = ("channel", "active")
    search_fields = ("name",)
    readonly_fields = ("api_key", "created_at")

    def save_model(self, request, obj, form, change):
        if obj.api_key_id is None:
            key, plaintext = create_key(f"partner {obj.name}"[:100], ["topups"])
            obj.api_key = key
            messages.warning(
                request,
                _(
                    "La clé d'API du partenaire, affichée une seule fois — transmettez-la de "
                    "façon sûre : %(key)s"
                )
                % {"key": plaintext},
            )
        super().save_model(request, obj, form, change)


@admin.register(Topup)
class TopupAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = (
        "pk",
        "credited_at",
        "channel",
        "supply_point",
        "amount",
        "status",
        "partner",
        "payer",
        "supplier",
    )
    list_filter = ("channel", "status", "supplier")
    search_fields = ("supply_point__ean", "external_id", "payer")
    date_hierarchy = "credited_at"
    actions = ["reverse"]

    @admin.display(description=_("Montant"))
    def amount(self, obj: Topup) -> str:
        return _eur(obj.amount_cents)

    @admin.action(description=_("Annuler (reprendre le solde de la recharge)"))
    def reverse(self, request: HttpRequest, queryset: QuerySet[Topup]) -> None:
        done = 0
        for topup in queryset:
            try:
                services.reverse_topup(
                    topup,
                    None,
                    "operator",
                    key=f"operator:{topup.pk}",
                    by=request.user.get_username(),
                )
                done += 1
            except services.TopupError as exc:
                messages.error(request, f"{topup}: {exc.detail}")
        if done:
            messages.success(request, _("%(n)d recharge(s) annulée(s).") % {"n": done})


@admin.register(OnlinePayment)
class OnlinePaymentAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = (
        "pk",
        "created_at",
        "provider_payment_id",
        "account",
        "amount",
        "status",
        "topup",
        "note",
    )
    list_filter = ("status", "provider")
    search_fields = ("provider_payment_id", "account__supply_point__ean")
    actions = ["refresh", "refund"]

    @admin.display(description=_("Montant"))
    def amount(self, obj: OnlinePayment) -> str:
        return _eur(obj.amount_cents)

    @admin.action(description=_("Relire chez le prestataire (et créditer si payé)"))
    def refresh(self, request, queryset):
        for p in queryset:
            try:
                online.refresh_payment(p.pk)
            except ProviderError as exc:
                messages.error(request, f"{p}: {exc}")

    @admin.action(description=_("Rembourser entièrement"))
    def refund(self, request, queryset):
        for p in queryset:
            try:
                online.refund_payment(
                    p, p.amount_cents - p.refunded_cents, by=request.user.get_username()
                )
            except (ProviderError, services.TopupError) as exc:
                messages.error(request, f"{p}: {exc}")


@admin.register(WebhookCall)
class WebhookCallAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = (
        "payment_id",
        "provider",
        "calls",
        "first_received_at",
        "handled_at",
        "last_error",
    )
    list_filter = ("provider",)
    search_fields = ("payment_id",)


class BankStatementUploadForm(forms.Form):
    file = forms.FileField(label=_("Fichier CAMT.053 (XML)"))


@admin.register(BankStatement)
class BankStatementAdmin(ReadOnlyMixin, admin.ModelAdmin):
    change_list_template = "admin/topups/bankstatement/change_list.html"
    list_display = (
        "statement_id",
        "sequence",
        "iban",
        "version",
        "filename",
        "imported_at",
        "lines",
        "opening",
        "closing",
        "outcomes",
    )
    search_fields = ("statement_id", "iban", "filename")
    date_hierarchy = "imported_at"

    def get_urls(self):
        return [
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),
                name="topups_bankstatement_import",
            ),
            *super().get_urls(),
        ]

    def import_view(self, request: HttpRequest):
        """Upload a statement: the same import as `solde import-bank-statement`, the same four
        totals shown per statement."""
        if not request.user.has_perm("topups.add_bankline"):
            raise PermissionDenied
        form = BankStatementUploadForm(request.POST or None, request.FILES or None)
        shown = None
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            if upload.size > MAX_STATEMENT_BYTES:
                messages.error(request, _("Fichier trop grand (50 Mo au plus)."))
            else:
                try:
                    report = bank.import_statement(upload.read(), filename=upload.name)
                except CamtError as exc:
                    messages.error(request, f"{upload.name}: {exc}")
                else:
                    shown = [_statement_rows(s) for s in report.statements]
                    messages.success(
                        request,
                        _("%(name)s : %(n)d relevé(s) lu(s).")
                        % {"name": upload.name, "n": len(shown)},
                    )
        context = {
            **self.admin_site.each_context(request),
            "title": _("Importer un relevé bancaire"),
            "form": form,
            "report": shown,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/topups/bankstatement/import.html", context)

    @admin.display(description=_("Solde d'ouverture"))
    def opening(self, obj: BankStatement) -> str:
        return _eur(obj.opening_cents)

    @admin.display(description=_("Solde de clôture"))
    def closing(self, obj: BankStatement) -> str:
        return _eur(obj.closing_cents)

    @admin.display(description=_("Crédité · attente · refusé · doublon"))
    def outcomes(self, obj: BankStatement) -> str:
        totals = obj.totals or {}
        return " · ".join(
            f"{totals.get(o, [0, 0])[0]} ({_eur(totals.get(o, [0, 0])[1])})"
            for o in LineOutcome.values
        )


@admin.register(BankLine)
class BankLineAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = (
        "statement",
        "entry_index",
        "tx_index",
        "booking_date",
        "amount",
        "outcome",
        "reason",
        "debtor_name",
        "structured",
        "text",
        "topup",
        "reversal",
        "duplicate_of",
    )
    list_filter = ("outcome", "credit")
    list_select_related = ("statement",)
    search_fields = ("key", "debtor_name", "text", "structured", "acct_svcr_ref", "end_to_end_id")

    @admin.display(description=_("Montant"))
    def amount(self, obj: BankLine) -> str:
        return _eur(obj.signed_cents)


def _statement_rows(s: bank.StatementReport) -> dict:
    labels = dict(LineOutcome.choices)
    rows = [(labels[o], t.count, _eur(t.cents)) for o, t in s.totals.items()]
    rows.append(
        (_("Total"), sum(r[1] for r in rows), _eur(sum(t.cents for t in s.totals.values())))
    )
    return {
        "title": s.title,
        "already_imported": s.already_imported,
        "opening": _eur(s.opening_cents),
        "closing": _eur(s.closing_cents),
        "rows": rows,
        "notes": s.notes,
        "warnings": s.warnings,
    }


class SuspenseForm(forms.ModelForm):
    match_to = forms.CharField(
        label=_("Attribuer à l'EAN ou la référence client"),
        required=False,
        help_text=_("Le montant est crédité sur ce compte."),
    )
    mark_for_return = forms.BooleanField(label=_("À rembourser au payeur"), required=False)

    class Meta:
        model = SuspenseItem
        fields = ("note",)

    def clean(self):
        data = super().clean()
        if self.instance.status != SuspenseStatus.OPEN:
            raise forms.ValidationError(_("Ce virement a déjà été traité."))
        if bool(data.get("match_to")) == bool(data.get("mark_for_return")):
            raise forms.ValidationError(
                _("Donnez un EAN ou cochez « à rembourser » (l'un des deux).")
            )
        if data.get("match_to") and bank.above_line_limit(self.instance.amount_cents):
            # Held money is released in the console, where the operator's limit applies.
            raise forms.ValidationError(
                _(
                    "Ce virement dépasse le plafond par ligne : il est attribué dans la console "
                    "(file des virements en attente), où s'applique la limite de l'opérateur."
                )
            )
        if data.get("match_to"):
            try:
                services.open_account_for(services.find_supply_point(data["match_to"]))
            except services.TopupError as exc:
                self.add_error("match_to", exc.detail)
        return data


@admin.register(SuspenseItem)
class SuspenseItemAdmin(admin.ModelAdmin):
    form = SuspenseForm
    list_display = (
        "pk",
        "created_at",
        "amount",
        "debtor",
        "text",
        "reason",
        "status",
        "resolved_by",
    )
    list_filter = ("status",)
    search_fields = ("line__debtor_name", "line__text", "line__structured")
    readonly_fields = (
        "line",
        "amount",
        "debtor",
        "text",
        "reason",
        "status",
        "topup",
        "resolved_by",
        "resolved_at",
        "created_at",
    )
    actions = ["mark_for_return"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=_("Montant"))
    def amount(self, obj):
        return _eur(obj.amount_cents)

    @admin.display(description=_("Payeur"))
    def debtor(self, obj):
        return f"{obj.line.debtor_name} {obj.line.debtor_iban}".strip()

    @admin.display(description=_("Communication"))
    def text(self, obj):
        return f"{obj.line.structured} {obj.line.text}".strip()

    def save_model(self, request, obj, form, change):
        who = request.user.get_username()
        if form.cleaned_data.get("match_to"):
            bank.match_suspense(obj, form.cleaned_data["match_to"], by=who)
        else:
            bank.return_suspense(obj, by=who, note=form.cleaned_data.get("note", ""))
        obj.refresh_from_db()

    @admin.action(description=_("Marquer à rembourser au payeur"))
    def mark_for_return(self, request, queryset):
        for item in queryset.filter(status=SuspenseStatus.OPEN):
            bank.return_suspense(item, by=request.user.get_username())


class ManualAdjustmentForm(forms.ModelForm):
    reference = forms.CharField(label=_("EAN ou référence client"))
    amount = forms.CharField(
        label=_("Montant (€)"), help_text=_("Négatif pour un débit, ex. -12.50")
    )

    class Meta:
        model = ManualAdjustment
        fields = ("kind", "reason")

    def clean(self):
        data = super().clean()
        try:
            sp = services.find_supply_point(data.get("reference", ""))
            self.account = services.open_account_for(sp)
        except services.TopupError as exc:
            self.add_error("reference", exc.detail)
        try:
            self.cents = parse_eur(data.get("amount", ""))
        except InvalidAmount:
            self.add_error("amount", _("Un montant en euros, au plus 2 décimales."))
            return data
        if not (data.get("reason") or "").strip():
            self.add_error("reason", _("Le motif est obligatoire."))
        if self.cents == 0:
            self.add_error("amount", _("Un montant différent de zéro."))
        if data.get("kind") == AdjustmentKind.TOPUP and self.cents < 0:
            self.add_error("amount", _("Un paiement reçu est positif; choisissez Correction."))
        return data


@admin.register(ManualAdjustment)
class ManualAdjustmentAdmin(admin.ModelAdmin):
    """Audited: who (operator), when, why — never changed or deleted afterwards."""

    form = ManualAdjustmentForm
    list_display = ("pk", "created_at", "account", "kind", "amount", "reason", "operator")
    list_filter = ("kind",)
    search_fields = ("account__supply_point__ean", "reason", "operator__username")

    def has_change_permission(self, request, obj=None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:
            return (
                "account",
                "kind",
                "amount_cents",
                "reason",
                "operator",
                "transaction",
                "topup",
                "created_at",
            )
        return ()

    def get_fields(self, request, obj=None):
        if obj is not None:
            return self.get_readonly_fields(request, obj)
        return ("reference", "kind", "amount", "reason")

    @admin.display(description=_("Montant"))
    def amount(self, obj):
        return _eur(obj.amount_cents)

    def save_model(self, request, obj, form, change):
        adj = services.manual_adjustment(
            PrepaymentAccount.objects.get(pk=form.account.pk),
            form.cents,
            form.cleaned_data["reason"],
            request.user,
            form.cleaned_data["kind"],
        )
        obj.pk = adj.pk
        obj.__dict__.update({k: v for k, v in adj.__dict__.items() if not k.startswith("_")})
