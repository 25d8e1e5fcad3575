"""The customer's space: every page is for the logged-in customer's own supply points only."""

from __future__ import annotations

import csv
import logging
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from functools import wraps
from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from solde import clock
from solde.ledger.models import Entry
from solde.money import format_eur
from solde.portal import contact, services
from solde.portal.forms import (
    ChannelsForm,
    HistoryFilterForm,
    PersonalDataForm,
    RecipientForm,
    ThresholdForm,
    TopupForm,
)
from solde.portal.models import NoticeRead
from solde.prepayment.models import DayCharge, PrepaymentAccount
from solde.prepayment.services import balance_view, set_low_credit_preferences
from solde.readings.models import DailyIndex
from solde.registry.models import REGISTER_UNIT, Customer, SupplyPoint
from solde.spreadsheet import text_cell
from solde.topups import online

BANNER_ACTIVATED = "prepayment_activated"

log = logging.getLogger(__name__)


class CustomerRequest(HttpRequest):
    """A request in the customer's space: `customer_required` sets `customer`."""

    customer: Customer
    htmx: Any


def customer_required(view):
    """Login required, and the user must be a customer (staff without one get a plain page)."""

    @login_required
    @wraps(view)
    def wrapper(request: CustomerRequest, *args, **kwargs):
        customer = Customer.objects.filter(user_id=cast(int, request.user.pk)).first()
        if customer is None:
            return render(request, "portal/no_customer.html", status=403)
        request.customer = customer
        return view(request, *args, **kwargs)

    return wrapper


def own_supply_points(customer: Customer):
    return (
        SupplyPoint.objects.filter(customer=customer)
        .select_related("dso", "account__balance_account", "account__advance_account")
        .order_by("energy", "ean")
    )


def own_supply_point(customer: Customer, ean: str) -> SupplyPoint:
    """The customer's supply point with this EAN, or 404 (never tell whose it is)."""
    return get_object_or_404(own_supply_points(customer), ean=ean)


def active_meter(sp: SupplyPoint):
    return sp.meters.filter(removed_at__isnull=True).order_by("-installed_at", "-pk").first()


def supply_status(sp: SupplyPoint, view) -> tuple[str, str]:
    """(tone, plain sentence) of where the customer stands."""
    if view.state == "pending":
        return "info", _(
            "Votre prépaiement sera activé dès que votre compteur communiquera avec nous."
        )
    if view.state == "closed":
        return "info", _("Ce compteur n'est plus en mode prépaiement.")
    if view.supply == "ready_for_reconnection":
        return "action", _(
            "Votre compteur est prêt à être reconnecté : appuyez sur le bouton vert de votre "
            "compteur pour rétablir l'alimentation."
        )
    if view.supply == "disconnected":
        return "danger", _(
            "Votre alimentation est coupée. Rechargez votre compte pour la rétablir."
        )
    if view.supply == "limited":
        return "danger", _(
            "Votre puissance est limitée. Rechargez votre compte pour retrouver toute la puissance."
        )
    if view.balance_cents < 0 and view.emergency_credit_remaining_cents <= 0:
        return "danger", _(
            "Votre crédit de secours est épuisé. Rechargez dès que possible pour éviter une "
            "coupure."
        )
    if view.balance_cents < 0:
        return "warning", _("Vous utilisez votre crédit de secours. Rechargez dès que possible.")
    if view.low_credit:
        return "warning", _("Votre solde est bas. Pensez à recharger.")
    return "ok", _("Votre alimentation est normale.")


def account_panel(sp: SupplyPoint) -> dict:
    account: PrepaymentAccount = sp.account
    view = balance_view(account)
    tone, status = supply_status(sp, view)
    days = int(view.days_left) if view.days_left is not None else None
    return {"sp": sp, "view": view, "tone": tone, "status": status, "days": days}


def ean_context(request: CustomerRequest, sp: SupplyPoint, section: str) -> dict:
    return {
        "sp": sp,
        "section": section,
        "all_sps": list(own_supply_points(request.customer)),
    }


# --- Dashboard and balance -------------------------------------------------------------------


@customer_required
def dashboard(request: CustomerRequest) -> HttpResponse:
    sps = list(own_supply_points(request.customer))
    by_address: dict[str, list] = defaultdict(list)
    for sp in sps:
        by_address[sp.address].append({"panel": account_panel(sp), "meter": active_meter(sp)})
    any_active = any(sp.account.state == "active" for sp in sps)
    show_banner = (
        any_active
        and not NoticeRead.objects.filter(
            user_id=cast(int, request.user.pk), notice=BANNER_ACTIVATED
        ).exists()
    )
    return render(
        request,
        "portal/dashboard.html",
        {"addresses": dict(by_address), "show_banner": show_banner, "section": "dashboard"},
    )


@require_POST
@customer_required
def mark_read(request: CustomerRequest) -> HttpResponse:
    services.mark_notice_read(request.user, BANNER_ACTIVATED)
    if request.htmx:
        return HttpResponse("")
    return redirect("portal:dashboard")


SECTIONS = {
    "balance": "portal:balance",
    "topup": "portal:topup",
    "history": "portal:history",
    "consumption": "portal:consumption",
    "alerts": "portal:alerts",
}


@customer_required
def choose(request: CustomerRequest, section: str) -> HttpResponse:
    """The nav's entry to a per-EAN page: straight there with one EAN, else pick one."""
    if section not in SECTIONS:
        raise Http404
    sps = list(own_supply_points(request.customer))
    if len(sps) == 1:
        return redirect(SECTIONS[section], ean=sps[0].ean)
    panels = [account_panel(sp) for sp in sps]
    return render(
        request,
        "portal/choose.html",
        {"panels": panels, "target": SECTIONS[section], "section": section},
    )


@customer_required
def balance(request: CustomerRequest, ean: str) -> HttpResponse:
    sp = own_supply_point(request.customer, ean)
    context = ean_context(request, sp, "balance") | {"panel": account_panel(sp)}
    return render(request, "portal/balance.html", context)


@customer_required
def balance_panel(request: CustomerRequest, ean: str) -> HttpResponse:
    """ "Actualiser les données": the balance block alone, for htmx."""
    sp = own_supply_point(request.customer, ean)
    return render(request, "portal/_balance.html", {"panel": account_panel(sp), "sp": sp})


# --- Top-up ----------------------------------------------------------------------------------


def _payment_session_key(ean: str) -> str:
    return f"portal_payment:{ean}"


@require_http_methods(["GET", "POST"])
@customer_required
def topup(request: CustomerRequest, ean: str) -> HttpResponse:
    """ "Nouveau paiement": method, amount 5–250 €, remember, "Payer" → the provider."""
    sp = own_supply_point(request.customer, ean)
    form = TopupForm(request.POST or None)
    can_pay = sp.account.state == "active"
    if request.method == "POST" and form.is_valid() and can_pay:
        return_url = request.build_absolute_uri(reverse("portal:topup_done", args=[sp.ean]))
        try:
            payment = online.start_payment(
                sp.account,
                form.cleaned_data["amount"],
                form.cleaned_data["method"],
                return_url,
                remember=form.cleaned_data["remember"],
            )
        except ValueError as exc:
            form.add_error(None, str(exc))
        else:
            request.session[_payment_session_key(sp.ean)] = payment.pk
            return redirect(payment.checkout_url)
    context = ean_context(request, sp, "topup") | {
        "form": form,
        "can_pay": can_pay,
        "panel": account_panel(sp),
        "quick_amounts": [10, 20, 50, 100],
    }
    response = render(request, "portal/topup.html", context)
    # The form's POST is redirected to the provider's checkout: allow it as a form target.
    from solde.topups.providers import checkout_origins

    response._csp_update = {"form-action": checkout_origins()}  # type: ignore[attr-defined]
    return response


@customer_required
def topup_done(request: CustomerRequest, ean: str) -> HttpResponse:
    """Back from the provider: ask it where the payment stands and show the new balance."""
    sp = own_supply_point(request.customer, ean)
    payment_id = request.session.get(_payment_session_key(sp.ean))
    payment = None
    if payment_id:
        try:
            payment = online.refresh_payment(payment_id)
        except ObjectDoesNotExist:
            raise Http404 from None
        owner = getattr(payment, "account_id", sp.account.pk)
        if owner != sp.account.pk:
            raise Http404
    sp.account.refresh_from_db()
    sp.account.balance_account.refresh_from_db()
    status = getattr(payment, "status", None)
    if status == "paid":
        tone, message = "ok", _("Merci ! Votre paiement est reçu et votre solde est mis à jour.")
    elif status in ("open", "pending", "authorized", "created"):
        tone, message = (
            "info",
            _(
                "Votre paiement est en cours de traitement. Votre solde sera mis à jour dès sa "
                "confirmation : utilisez « Actualiser les données »."
            ),
        )
    elif payment is None:
        tone, message = "info", _("Nous ne trouvons pas de paiement en cours pour ce compteur.")
    else:
        tone, message = (
            "danger",
            _("Le paiement n'a pas abouti et rien n'a été débité. Vous pouvez réessayer."),
        )
    context = ean_context(request, sp, "topup") | {
        "payment": payment,
        "tone": tone,
        "message": message,
        "panel": account_panel(sp),
    }
    return render(request, "portal/topup_done.html", context)


# --- History ---------------------------------------------------------------------------------

OTHER_KINDS = ("advance", "adjustment", "reversal", "refund")


def _describe(entry: Entry) -> str:
    t = entry.transaction
    if t.kind == "topup":
        return _("Recharge")
    if t.kind == "charge":
        day = t.day or clock.local_date(t.at)
        return _("Consommation du %(day)s") % {"day": date_format(day, "SHORT_DATE_FORMAT")}
    if t.kind == "advance_recovery":
        return _("Remboursement de l'avance de départ")
    if t.kind == "advance":
        return _("Avance de départ")
    if t.kind == "reversal":
        return _("Annulation d'une recharge")
    if t.kind == "refund":
        return _("Remboursement")
    return _("Correction")


def history_entries(sp: SupplyPoint, form: HistoryFilterForm):
    qs = (
        Entry.objects.filter(account_id=sp.account.balance_account_id)
        .select_related("transaction")
        .order_by("-transaction__at", "-pk")
    )
    data = form.cleaned_data if form.is_valid() else {}
    kind = data.get("kind")
    if kind == "topup":
        qs = qs.filter(transaction__kind="topup")
    elif kind == "charge":
        qs = qs.filter(transaction__kind__in=("charge", "advance_recovery"))
    elif kind == "other":
        qs = qs.filter(transaction__kind__in=OTHER_KINDS)
    # A daily charge belongs to the day consumed (posted after midnight); other operations to
    # the day the money moved.
    if data.get("start"):
        start = data["start"]
        qs = qs.filter(
            Q(transaction__day__isnull=False, transaction__day__gte=start)
            | Q(transaction__day__isnull=True, transaction__at__gte=clock.day_start(start))
        )
    if data.get("end"):
        end = data["end"]
        qs = qs.filter(
            Q(transaction__day__isnull=False, transaction__day__lte=end)
            | Q(
                transaction__day__isnull=True,
                transaction__at__lt=clock.day_start(end + timedelta(days=1)),
            )
        )
    return qs


@customer_required
def history(request: CustomerRequest, ean: str) -> HttpResponse:
    """Top-ups and daily charges from the ledger, filterable, as a page or CSV."""
    sp = own_supply_point(request.customer, ean)
    form = HistoryFilterForm(request.GET or None)
    entries = history_entries(sp, form)
    if request.GET.get("format") == "csv":
        return _history_csv(sp, entries)
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    rows = [
        {
            "at": clock.local(e.transaction.at),
            "kind": e.transaction.kind,
            "label": _describe(e),
            "amount": e.amount_cents,
        }
        for e in page
    ]
    query = request.GET.copy()
    query.pop("page", None)
    query.pop("format", None)
    context = ean_context(request, sp, "history") | {
        "form": form,
        "rows": rows,
        "page": page,
        "query": query.urlencode(),
    }
    return render(request, "portal/history.html", context)


def _history_csv(sp: SupplyPoint, entries) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="solde-{sp.ean}-historique.csv"'
    response.write("\ufeff")  # so spreadsheet programs read UTF-8 accents right
    writer = csv.writer(response, delimiter=";")
    writer.writerow([_("Date"), _("Opération"), _("Montant (EUR)"), _("Référence")])
    for e in entries.iterator(chunk_size=2000):
        writer.writerow(
            [
                clock.local(e.transaction.at).strftime("%Y-%m-%d %H:%M"),
                text_cell(_describe(e)),
                format_eur(e.amount_cents),
                text_cell(e.transaction.reference),
            ]
        )
    return response


# --- Consumption -----------------------------------------------------------------------------


def _kwh(row: DayCharge, register: str) -> Decimal:
    try:
        return Decimal(str(row.kwh.get(register, "0")))
    except ArithmeticError:
        return Decimal(0)


def _month_start(d: date, back: int = 0) -> date:
    y, m = d.year, d.month - back
    while m <= 0:
        m += 12
        y -= 1
    return date(y, m, 1)


def consumption_data(sp: SupplyPoint, days: int = 30) -> dict:
    """Daily (last `days` days) and monthly (last 12 months) kWh and €, split by register,
    with the same period a year earlier."""
    account = sp.account
    end = account.last_closed_day or clock.today() - timedelta(days=1)
    start = end - timedelta(days=days - 1)
    first_month = _month_start(end, 11)
    ly_first = date(first_month.year - 1, first_month.month, 1)
    rows = list(
        DayCharge.objects.filter(account=account, day__gte=min(ly_first, start - timedelta(366)))
        .filter(day__lte=end)
        .order_by("day")
    )
    by_day = {r.day: r for r in rows}
    registers = ["1.8.1", "1.8.2"] if sp.energy == "electricity" else ["24.2.3"]

    def one_year_before(d: date) -> date:
        try:
            return d.replace(year=d.year - 1)
        except ValueError:  # 29 February
            return d.replace(year=d.year - 1, day=28)

    daily: dict[str, Any] = {
        "labels": [],
        "registers": {reg: [] for reg in registers},
        "eur": [],
        "last_year": [],
    }
    totals: dict[str, Any] = {
        "kwh": Decimal(0),
        "cents": 0,
        "ly_kwh": Decimal(0),
        "ly_cents": 0,
        "ly_days": 0,
    }
    d = start
    while d <= end:
        row = by_day.get(d)
        daily["labels"].append(d.isoformat())
        for reg in registers:
            daily["registers"][reg].append(float(_kwh(row, reg)) if row else None)
        daily["eur"].append(row.charge_cents if row else None)
        ly = by_day.get(one_year_before(d))
        daily["last_year"].append(
            float(sum((_kwh(ly, reg) for reg in registers), Decimal(0))) if ly else None
        )
        if row:
            totals["kwh"] += sum((_kwh(row, reg) for reg in registers), Decimal(0))
            totals["cents"] += row.charge_cents
        if ly:
            totals["ly_kwh"] += sum((_kwh(ly, reg) for reg in registers), Decimal(0))
            totals["ly_cents"] += ly.charge_cents
            totals["ly_days"] += 1
        d += timedelta(days=1)

    months: dict[date, dict[str, Any]] = {}
    for dc in rows:
        acc = months.setdefault(dc.day.replace(day=1), {"kwh": Decimal(0), "cents": 0})
        acc["kwh"] += sum((_kwh(dc, reg) for reg in registers), Decimal(0))
        acc["cents"] += dc.charge_cents
    monthly: dict[str, list] = {"labels": [], "kwh": [], "eur": [], "ly_kwh": [], "ly_eur": []}
    for back in range(11, -1, -1):
        month = _month_start(end, back)
        monthly["labels"].append(month.isoformat())
        cur = months.get(month)
        prev = months.get(date(month.year - 1, month.month, 1))
        monthly["kwh"].append(float(cur["kwh"]) if cur else None)
        monthly["eur"].append(cur["cents"] if cur else None)
        monthly["ly_kwh"].append(float(prev["kwh"]) if prev else None)
        monthly["ly_eur"].append(prev["cents"] if prev else None)
    return {
        "start": start,
        "end": end,
        "registers": registers,
        "daily": daily,
        "monthly": monthly,
        "totals": totals,
        "has_data": bool(rows),
    }


def midnight_indexes(sp: SupplyPoint, registers: list[str]) -> list[dict[str, Any]]:
    """The meter's index at the last closed midnight, per charged register, from the daily
    indexes the close keeps (one indexed row each; raw readings may be gone by retention)."""
    meter = active_meter(sp)
    if meter is None:
        return []
    out = []
    for register in registers:
        row = (
            DailyIndex.objects.filter(meter=meter, register=register)
            .order_by("-day")
            .values_list("day", "end_milli")
            .first()
        )
        if row is not None:
            day, end_milli = row
            out.append(
                {
                    "register": register,
                    "at": clock.local(clock.day_start(day + timedelta(days=1))),
                    "value": Decimal(end_milli) / 1000,
                    "unit": "m³" if REGISTER_UNIT.get(register) == "m3" else "kWh",
                }
            )
    return out


@customer_required
def consumption(request: CustomerRequest, ean: str) -> HttpResponse:
    sp = own_supply_point(request.customer, ean)
    try:
        days = int(request.GET.get("days", 30))
    except ValueError:
        days = 30
    days = days if days in (7, 30, 90) else 30
    data = consumption_data(sp, days)
    labels = {
        "1.8.1": _("Jour (heures pleines)"),
        "1.8.2": _("Nuit (heures creuses)"),
        "24.2.3": _("Gaz"),
        "eur": _("Coût (€)"),
        "last_year": _("Même période l'an dernier"),
        "this_year": _("Cette année"),
        "kwh": "kWh",
    }
    chart = {"daily": data["daily"], "monthly": data["monthly"], "labels": labels}
    indexes = midnight_indexes(sp, data["registers"])
    for index in indexes:
        index["label"] = labels[index["register"]]
    context = ean_context(request, sp, "consumption") | {
        "data": data,
        "chart": chart,
        "days": days,
        "indexes": indexes,
    }
    return render(request, "portal/consumption.html", context)


# --- Alerts, contact preferences, personal data ---------------------------------------------


def _threshold_initial(account: PrepaymentAccount) -> dict:
    from solde.portal.templatetags.portal import eur_input

    return {
        "threshold": eur_input(account.low_credit_threshold_cents),
        "days": account.low_credit_days,
    }


def _refused(form, exc: ValidationError) -> None:
    """The service's per-field sentences onto the form (unknown fields as form errors)."""
    errors = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
    for name, texts in errors.items():
        for text in texts:
            form.add_error(name if name in form.fields else None, text)


def _handle_contact_forms(request: CustomerRequest, customer: Customer, forms: dict) -> bool:
    """Shared by "Mes alertes" and "Préférences de contact"; True when something was saved."""
    action = request.POST.get("action")
    if action == "channels":
        form = forms["channels"] = ChannelsForm(request.POST, prefix="channel")
        if form.is_valid():
            try:
                contact.set_preferences(customer, **form.cleaned_data)
            except ValidationError as exc:
                _refused(form, exc)
                return False
            messages.success(request, _("Vos moyens de contact sont enregistrés."))
            return True
    elif action == "add_recipient":
        rform = forms["recipient"] = RecipientForm(request.POST, prefix="recipient")
        if rform.is_valid():
            try:
                contact.add_recipient(customer, **rform.cleaned_data)
            except ValidationError as exc:
                _refused(rform, exc)
                return False
            messages.success(request, _("Le destinataire est ajouté."))
            return True
    elif action == "remove_recipient":
        ids = {r.pk for r in contact.recipients(customer)}
        try:
            rid = int(request.POST.get("recipient", ""))
        except ValueError:
            raise Http404 from None
        if rid not in ids:
            raise Http404
        try:
            contact.remove_recipient(customer, rid)
        except ObjectDoesNotExist:
            raise Http404 from None
        messages.success(request, _("Le destinataire est retiré."))
        return True
    return False


@require_http_methods(["GET", "POST"])
@customer_required
def alerts(request: CustomerRequest, ean: str) -> HttpResponse:
    """ "Mes alertes": low-credit thresholds, channels and extra recipients."""
    customer = request.customer
    sp = own_supply_point(customer, ean)
    account = sp.account
    threshold_form = ThresholdForm(initial=_threshold_initial(account))
    forms = {
        "channels": ChannelsForm(initial=contact.preferences(customer), prefix="channel"),
        "recipient": RecipientForm(prefix="recipient"),
    }
    if request.method == "POST":
        if request.POST.get("action") == "thresholds":
            threshold_form = ThresholdForm(request.POST)
            if threshold_form.is_valid():
                set_low_credit_preferences(
                    account,
                    threshold_form.cleaned_data["threshold"],
                    threshold_form.cleaned_data["days"],
                )
                messages.success(request, _("Vos seuils d'alerte sont enregistrés."))
                return redirect("portal:alerts", ean=sp.ean)
        elif _handle_contact_forms(request, customer, forms):
            return redirect("portal:alerts", ean=sp.ean)
    context = ean_context(request, sp, "alerts") | {
        "threshold_form": threshold_form,
        "dso_threshold": sp.dso.low_credit_threshold_cents,
        "dso_days": sp.dso.low_credit_days,
        "recipients": contact.recipients(customer),
        **{f"{k}_form": v for k, v in forms.items()},
    }
    return render(request, "portal/alerts.html", context)


@customer_required
def alerts_history(request: CustomerRequest, ean: str) -> HttpResponse:
    customer = request.customer
    sp = own_supply_point(customer, ean)
    context = ean_context(request, sp, "alerts") | {
        "sent": contact.history(customer, ean=sp.ean),
    }
    return render(request, "portal/alerts_history.html", context)


@require_http_methods(["GET", "POST"])
@customer_required
def contact_preferences(request: CustomerRequest) -> HttpResponse:
    customer = request.customer
    forms = {
        "channels": ChannelsForm(initial=contact.preferences(customer), prefix="channel"),
        "recipient": RecipientForm(prefix="recipient"),
    }
    if request.method == "POST" and _handle_contact_forms(request, customer, forms):
        return redirect("portal:contact")
    context = {
        "section": "profile",
        "recipients": contact.recipients(customer),
        "customer": customer,
        **{f"{k}_form": v for k, v in forms.items()},
    }
    return render(request, "portal/contact.html", context)


@require_http_methods(["GET", "POST"])
@customer_required
def profile(request: CustomerRequest) -> HttpResponse:
    """ "Données personnelles": the same fields as at onboarding; the e-mail is the login."""
    customer = request.customer
    initial = {
        "first_name": customer.first_name,
        "last_name": customer.last_name,
        "email": customer.email,
        "phone": customer.phone,
        "language": customer.language,
    }
    form = PersonalDataForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_personal_data(customer, **form.cleaned_data)
        except services.PortalError as exc:
            form.add_error("email", str(exc))
        else:
            messages.success(request, _("Vos données personnelles sont enregistrées."))
            return redirect("portal:profile")
    sps = own_supply_points(customer)
    return render(request, "portal/profile.html", {"form": form, "section": "profile", "sps": sps})


@require_http_methods(["POST"])
@customer_required
def download_data(request: CustomerRequest) -> HttpResponse:
    """ "Télécharger mes données" (GDPR access): everything Solde holds about this customer,
    as one JSON file. POST with the CSRF token: a link elsewhere cannot trigger it."""
    from solde import privacy  # privacy reads every app; only this view needs it

    response = HttpResponse(privacy.export_json(request.customer), content_type="application/json")
    log.info("customer %s downloaded their personal data", request.customer.pk)
    day = clock.local(clock.now()).strftime("%Y-%m-%d")
    response["Content-Disposition"] = f'attachment; filename="solde-mes-donnees-{day}.json"'
    response["Cache-Control"] = "no-store"
    return response
