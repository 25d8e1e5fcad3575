"""The console's pages: thin views over search, timeline, queues, dashboard and the actions
of services.py. Staff only: anyone else is sent to the console's login; a missing permission
is a 403 page."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from functools import wraps
from typing import Any

from django import forms as dj_forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from solde import clock
from solde.backoffice import dashboard as dashboards
from solde.backoffice import forms, nav, queues, search, services, timeline, twofactor
from solde.backoffice.models import FourEyesRequest, RequestStatus
from solde.backoffice.roles import perm
from solde.notifications import letters
from solde.notifications.models import Message
from solde.prepayment import rules as prepayment_rules
from solde.prepayment.models import HeldRun, PrepaymentAccount
from solde.prepayment.services import balance_view
from solde.registry.models import Customer, Dso, SupplyPoint
from solde.topups import bank
from solde.topups.models import SuspenseItem


def _htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False))


def console_view(permission: str = "use_console") -> Callable:
    """Staff only (others go to the console's login); then the permission, else a 403 page."""

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            user = request.user
            if not (user.is_authenticated and user.is_staff and user.is_active):
                login = reverse("console:login")
                return redirect(f"{login}?next={request.get_full_path()}")
            if settings.STAFF_2FA and not twofactor.verified(user):
                # Also enforced by twofactor.StaffSessionMiddleware; here if it is ever left out.
                two_factor = reverse("console:two_factor")
                return redirect(f"{two_factor}?next={request.get_full_path()}")
            if not user.has_perm(perm(permission)):
                return forbidden(request)
            try:
                return view(request, *args, **kwargs)
            except PermissionDenied:
                return forbidden(request)

        return wrapper

    return decorate


def forbidden(request: HttpRequest) -> HttpResponse:
    return page(request, "backoffice/403.html", {}, status=403)


def page(request: HttpRequest, template: str, context: dict, status: int = 200) -> HttpResponse:
    context.setdefault("section", "")
    context["console_nav"] = nav.items_for(request.user) if request.user.is_authenticated else []
    return render(request, template, context, status=status)


# --- Login ------------------------------------------------------------------------------------


class StaffAuthenticationForm(AuthenticationForm):
    def confirm_login_allowed(self, user) -> None:
        super().confirm_login_allowed(user)
        if not user.is_staff:
            raise dj_forms.ValidationError(
                gettext_lazy("Ce compte n'a pas accès à la console des opérateurs."),
                code="not_staff",
            )


class LoginView(auth_views.LoginView):
    template_name = "backoffice/login.html"
    authentication_form = StaffAuthenticationForm

    def get_default_redirect_url(self) -> str:
        return reverse("console:home")


class LogoutView(auth_views.LogoutView):
    next_page = "console:login"


# --- Home, queues, search -------------------------------------------------------------------


@console_view()
def home(request: HttpRequest) -> HttpResponse:
    counts = [(q, q.size()) for q in queues.QUEUES]
    return page(request, "backoffice/home.html", {"section": "home", "counts": counts})


@console_view()
def queue(request: HttpRequest, slug: str) -> HttpResponse:
    q = queues.BY_SLUG.get(slug)
    if q is None:
        raise Http404
    rows = list(q.rows()[: queues.LIST_LIMIT])
    ctx: dict = {"section": "home", "queue": q, "rows": rows, "total": q.size()}
    if slug == "planned-interruptions":
        today = clock.local_date(clock.now())
        ctx["rows"] = [
            {
                "account": a,
                "action": prepayment_rules.interruption_action(
                    a.supply_point.energy, a.supply_point.protected, today, a.supply_point.dso
                ),
                "paused": a.interruptions_paused_until and a.interruptions_paused_until >= today,
            }
            for a in rows
        ]
    return page(request, "backoffice/queue.html", ctx)


@console_view()
def search_view(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "")
    ctx: dict = {"section": "search", "q": q}
    if q.strip():
        result_page, hits, capped = search.page_of(q, request.GET.get("page"))
        ctx.update(page_obj=result_page, hits=hits, capped=capped)
    template = "backoffice/_results.html" if _htmx(request) else "backoffice/search.html"
    return page(request, template, ctx)


# --- The customer's page --------------------------------------------------------------------


def _supply_rows(customer: Customer) -> list[dict]:
    rows = []
    sps = customer.supply_points.select_related("dso").prefetch_related("meters__shadow")
    for sp in sps.order_by("energy", "ean"):
        account = (
            PrepaymentAccount.objects.select_related(
                "balance_account", "advance_account", "supply_point__dso"
            )
            .filter(supply_point=sp)
            .first()
        )
        meter = next((m for m in sp.meters.all() if m.removed_at is None), None)
        shadow = getattr(meter, "shadow", None) if meter else None
        rows.append(
            {
                "sp": sp,
                "account": account,
                "view": balance_view(account) if account else None,
                "meter": meter,
                "shadow": shadow,
            }
        )
    return rows


@console_view()
def customer(request: HttpRequest, pk: int) -> HttpResponse:
    c = get_object_or_404(Customer.objects.select_related("user"), pk=pk)
    ctx = {
        "section": "search",
        "customer": c,
        "rows": _supply_rows(c),
        "categories": timeline.CATEGORIES,
        "entries": timeline.timeline(c)[:300],
        "messages_list": Message.objects.filter(customer=c).order_by("-created_at")[:20],
        "today": clock.local_date(clock.now()),
    }
    return page(request, "backoffice/customer.html", ctx)


@console_view()
def customer_timeline(request: HttpRequest, pk: int) -> HttpResponse:
    c = get_object_or_404(Customer, pk=pk)
    wanted = {k for k in request.GET.getlist("category") if k in timeline.CATEGORIES}
    ean = request.GET.get("ean", "")
    entries = timeline.timeline(c, wanted or None, ean)
    if request.GET.get("format") == "csv":
        resp = HttpResponse(timeline.to_csv(entries), content_type="text/csv; charset=utf-8")
        resp["Content-Disposition"] = f'attachment; filename="timeline-{c.pk}.csv"'
        return resp
    ctx = {"customer": c, "entries": entries[:300], "categories": timeline.CATEGORIES}
    if _htmx(request):
        return page(request, "backoffice/_timeline.html", ctx)
    return redirect(reverse("console:customer", args=[c.pk]) + "#timeline")


# --- Actions --------------------------------------------------------------------------------


def _action(
    request: HttpRequest,
    form_class: type[dj_forms.Form],
    title: str,
    back: str,
    perform: Callable[[Any], str],
    context: dict | None = None,
    initial: dict | None = None,
) -> HttpResponse:
    """GET shows the form; POST runs `perform` (which returns the success sentence) and goes
    back; a refused action shows its sentence on the form and writes nothing."""
    form = form_class(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            done = perform(form)
        except services.ActionError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, done)
            return redirect(back)
    ctx = {"form": form, "title": title, "back": back, **(context or {})}
    return page(request, "backoffice/action.html", ctx, status=400 if form.errors else 200)


def _sp(pk: int) -> SupplyPoint:
    return get_object_or_404(SupplyPoint.objects.select_related("customer", "dso"), pk=pk)


def _back(sp: SupplyPoint) -> str:
    return reverse("console:customer", args=[sp.customer_id]) + f"#sp-{sp.pk}"


@console_view("adjust_balance")
def adjust(request: HttpRequest, pk: int) -> HttpResponse:
    sp = _sp(pk)
    account = get_object_or_404(PrepaymentAccount, supply_point=sp)
    limit = services.adjustment_limit(request.user, sp.dso_id)

    def perform(form: forms.AdjustmentForm) -> str:
        result = services.adjust(
            request.user,
            account,
            form.signed_cents(),
            form.cleaned_data["kind"],
            form.cleaned_data["reason"],
        )
        if isinstance(result, FourEyesRequest):
            return _(
                "Montant au-delà de votre limite : la demande attend l'approbation d'une autre "
                "personne."
            )
        return _("Ajustement passé.")

    return _action(
        request,
        forms.AdjustmentForm,
        _("Ajuster le solde"),
        _back(sp),
        perform,
        {"sp": sp, "limit_cents": limit},
    )


@console_view("reissue_code")
def reissue_code(request: HttpRequest, pk: int) -> HttpResponse:
    sp = _sp(pk)

    def perform(form: forms.ReasonForm) -> str:
        where = services.reissue_code(request.user, sp, form.cleaned_data["reason"])
        return _(
            "Nouveau code d'activation émis ; l'ancien ne fonctionne plus. Envoi : %(where)s."
        ) % {"where": where}

    return _action(
        request,
        forms.ReasonForm,
        _("Émettre un nouveau code d'activation"),
        _back(sp),
        perform,
        {
            "sp": sp,
            "explain": _(
                "Les codes non utilisés de ce point de fourniture cessent de fonctionner. "
                "Le nouveau code part par e-mail si le client a une adresse, sinon par "
                "courrier (PDF)."
            ),
        },
    )


@console_view("pause_interruptions")
def pause(request: HttpRequest, pk: int) -> HttpResponse:
    sp = _sp(pk)
    account = get_object_or_404(PrepaymentAccount, supply_point=sp)

    def perform(form: forms.PauseForm) -> str:
        until = form.cleaned_data["until"]
        cancelled = services.pause_interruptions(
            request.user, account, until, form.cleaned_data["reason"]
        )
        if until:
            return _(
                "Interruptions suspendues jusqu'au %(day)s inclus (%(n)s ordre(s) annulé(s))."
            ) % {"day": until.strftime("%d/%m/%Y"), "n": cancelled}
        return _("Les interruptions sont de nouveau permises.")

    return _action(
        request,
        forms.PauseForm,
        _("Suspendre les interruptions"),
        _back(sp),
        perform,
        {"sp": sp},
        initial={"until": account.interruptions_paused_until},
    )


@console_view("order_meter")
def order(request: HttpRequest, pk: int) -> HttpResponse:
    sp = _sp(pk)

    def perform(form: forms.OrderForm) -> str:
        o = services.order_meter(
            request.user, sp, form.cleaned_data["what"], form.cleaned_data["reason"]
        )
        return _("Ordre %(kind)s envoyé au compteur (n° %(id)s).") % {
            "kind": o.get_kind_display(),
            "id": o.pk,
        }

    return _action(
        request,
        forms.OrderForm,
        _("Commander un ordre au compteur"),
        _back(sp),
        perform,
        {"sp": sp},
    )


@console_view("resend_message")
def resend(request: HttpRequest, pk: int) -> HttpResponse:
    m = get_object_or_404(Message.objects.select_related("event__supply_point", "customer"), pk=pk)
    back = reverse("console:customer", args=[m.customer_id]) + "#messages"

    def perform(form: forms.ReasonForm) -> str:
        services.resend_message(request.user, m, form.cleaned_data["reason"])
        return _("Le message sera renvoyé dans la minute.")

    return _action(
        request, forms.ReasonForm, _("Renvoyer un message"), back, perform, {"message_obj": m}
    )


@console_view("edit_contact")
def contact(request: HttpRequest, pk: int) -> HttpResponse:
    c = get_object_or_404(Customer, pk=pk)
    back = reverse("console:customer", args=[c.pk])

    def perform(form: forms.ContactForm) -> str:
        data = {f: form.cleaned_data[f] for f in services.CONTACT_FIELDS}
        changed = services.correct_contact(request.user, c, data, form.cleaned_data["reason"])
        return _("Coordonnées corrigées : %(fields)s.") % {"fields": ", ".join(changed)}

    initial = {f: getattr(c, f) for f in services.CONTACT_FIELDS}
    return _action(
        request,
        forms.ContactForm,
        _("Corriger les coordonnées"),
        back,
        perform,
        {"customer": c},
        initial,
    )


ERASURE_LABELS = {
    "customer": gettext_lazy("Nom, e-mail et téléphone du client"),
    "portal_login": gettext_lazy("Accès au portail (supprimé)"),
    "addresses": gettext_lazy("Adresses des points de fourniture"),
    "contact_preferences": gettext_lazy("Préférences de contact"),
    "extra_recipients": gettext_lazy("Destinataires supplémentaires"),
    "messages": gettext_lazy("Messages (destinataire et texte effacés)"),
    "topup_payers": gettext_lazy("Noms des payeurs des recharges"),
    "bank_lines": gettext_lazy("Lignes bancaires (nom effacé, IBAN masqué)"),
    "saved_payment_methods": gettext_lazy("Moyens de paiement enregistrés"),
    "activation_codes": gettext_lazy("Codes d'activation (lien au compte retiré)"),
}


@console_view("erase_customer")
def erase(request: HttpRequest, pk: int) -> HttpResponse:
    """GDPR erasure of a closed customer (supervisors): a dry run lists what would change."""
    c = get_object_or_404(Customer, pk=pk)
    back = reverse("console:customer", args=[c.pk])
    form = forms.ErasureForm(request.POST or None)
    plan = None
    if request.method == "POST" and form.is_valid():
        dry_run = form.cleaned_data["mode"] == "dry_run"
        try:
            plan = services.erase_customer(
                request.user, c, form.cleaned_data["reason"], dry_run=dry_run
            )
        except services.ActionError as exc:
            form.add_error(None, str(exc))
        else:
            if not dry_run:
                messages.success(request, _("Les données personnelles du client sont effacées."))
                return redirect(back)
    changes = []
    if plan is not None:
        changes = [(ERASURE_LABELS.get(k, k), n) for k, n in plan.changes.items()]
    ctx = {
        "form": form,
        "title": _("Effacer les données personnelles (RGPD)"),
        "back": back,
        "customer": c,
        "explain": _(
            "Le grand livre, les montants, les EAN et les lignes de règlement sont conservés ; "
            "la personne est effacée. Possible seulement pour un client dont tous les comptes "
            "sont clôturés depuis plus de %(days)s jours."
        )
        % {"days": settings.PERSONAL_DATA_RETENTION_DAYS},
        "erasure_changes": changes,
    }
    return page(request, "backoffice/action.html", ctx, status=400 if form.errors else 200)


@console_view("match_suspense")
def match_suspense(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(SuspenseItem.objects.select_related("line"), pk=pk)
    back = reverse("console:queue", args=["suspense"])

    held = bank.above_line_limit(item.amount_cents)

    def perform(form: forms.SuspenseForm) -> str:
        done = services.match_suspense(
            request.user, item, form.cleaned_data["reference"], form.cleaned_data["reason"]
        )
        if isinstance(done, FourEyesRequest):
            return _(
                "Virement au-delà du plafond par ligne : la demande de libération attend "
                "l'approbation d'un superviseur (une autre personne)."
            )
        return _("Virement attribué à l'EAN %(ean)s.") % {"ean": done.supply_point.ean}

    context: dict = {"item": item}
    if held:
        context["explain"] = _(
            "Ce virement dépasse le plafond par ligne : votre demande de libération sera "
            "exécutée quand un superviseur, une autre personne, l'approuvera."
        )
    return _action(
        request,
        forms.SuspenseForm,
        _("Demander la libération d'un virement retenu")
        if held
        else _("Attribuer un virement en attente"),
        back,
        perform,
        context,
    )


@console_view("decide_held_run")
def held_run(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(HeldRun.objects.select_related("dso"), pk=pk)
    back = reverse("console:queue", args=["held-runs"])

    def perform(form: forms.HeldRunForm) -> str:
        services.request_held_run_decision(
            request.user,
            run,
            form.cleaned_data["decision"] == "release",
            form.cleaned_data["reason"],
        )
        return _("Proposition enregistrée : un second superviseur doit l'approuver.")

    return _action(
        request, forms.HeldRunForm, _("Coupure massive retenue"), back, perform, {"run": run}
    )


@console_view()
def decide(request: HttpRequest, pk: int) -> HttpResponse:
    req = get_object_or_404(
        FourEyesRequest.objects.select_related(
            "requested_by", "account__supply_point", "held_run", "suspense_item__line"
        ),
        pk=pk,
    )
    if not request.user.has_perm(perm(services.approver_permission(req))):
        return forbidden(request)
    back = reverse("console:queue", args=["approvals"])

    def perform(form: forms.DecideForm) -> str:
        return services.decide(
            request.user,
            req,
            form.cleaned_data["decision"] == "approve",
            form.cleaned_data["reason"],
        )

    if req.status != RequestStatus.PENDING:
        messages.info(request, _("Cette demande a déjà été traitée."))
        return redirect(back)
    return _action(
        request,
        forms.DecideForm,
        _("Approuver une demande (quatre yeux)"),
        back,
        perform,
        {"req": req},
    )


@console_view()
def letter(request: HttpRequest, pk: int) -> HttpResponseBase:
    m = Message.objects.filter(pk=pk).exclude(letter_pdf="").first()
    if m is None or not letters.letter_path(m.letter_pdf).exists():
        raise Http404
    return FileResponse(
        letters.letter_path(m.letter_pdf).open("rb"), content_type="application/pdf"
    )


# --- Dashboard ------------------------------------------------------------------------------


def _date(text: str | None, default: date) -> date:
    try:
        return date.fromisoformat(text) if text else default
    except ValueError:
        return default


@console_view("view_dashboard")
def dashboard(request: HttpRequest) -> HttpResponse:
    dsos = list(Dso.objects.order_by("code"))
    if not dsos:
        raise Http404
    code = request.GET.get("dso") or dsos[0].code
    if code not in {d.code for d in dsos}:
        code = dsos[0].code
    today = clock.local_date(clock.now())
    end = min(_date(request.GET.get("end"), today), today)
    start = _date(request.GET.get("start"), end - timedelta(days=29))
    if start > end or (end - start).days > 366:
        start = end - timedelta(days=29)
    board = dashboards.build(code, start, end)
    if request.GET.get("format") == "csv":
        resp = HttpResponse(dashboards.to_csv(board), content_type="text/csv; charset=utf-8")
        resp["Content-Disposition"] = f'attachment; filename="dashboard-{code}-{start}-{end}.csv"'
        return resp
    ctx = {
        "section": "dashboard",
        "dsos": dsos,
        "board": board,
        "labels": board.state_labels(),
        "chart": board.chart_data(),
        "daily": board.daily_rows(),
        "chart_texts": {
            "accounts": _("Comptes"),
            "interruptions": _("Interruptions"),
            "reconnections": _("Rétablissements"),
            "collected": _("Encaissé"),
            "passed": _("Reversé aux fournisseurs"),
        },
    }
    return page(request, "backoffice/dashboard.html", ctx)
