"""The console's queue of rejected readings: counts by reason, the rows themselves filtered by
reason, EAN or meter and source, and — for the back office — marking some, or all of the
filter, reviewed with a reason (services.mark_readings_reviewed), with an undo per review."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Max
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from solde import clock
from solde.backoffice import forms, queues, services
from solde.backoffice.models import ReadingReview
from solde.backoffice.roles import perm
from solde.backoffice.views import _action, console_view, page
from solde.readings.models import RejectedReading, RejectReason

PAGE_SIZE = 50
RECENT_REVIEWS = 10

# The readings app names its reasons in English for the API; operators read French.
REASON_LABELS: dict[str, Promise] = {
    RejectReason.UNKNOWN_EAN: gettext_lazy("EAN inconnu"),
    RejectReason.UNKNOWN_METER: gettext_lazy("Compteur inconnu"),
    RejectReason.UNKNOWN_REGISTER: gettext_lazy("Registre inconnu"),
    RejectReason.UNIT_MISMATCH: gettext_lazy("Unité incohérente"),
    RejectReason.FUTURE: gettext_lazy("Dans le futur"),
    RejectReason.CONFLICT: gettext_lazy("Autre valeur déjà reçue pour cet instant"),
    RejectReason.INDEX_DECREASE: gettext_lazy("Index plus bas qu'un index antérieur"),
    RejectReason.IMPLAUSIBLE: gettext_lazy("Saut invraisemblable"),
    RejectReason.INVALID: gettext_lazy("Ligne mal formée"),
}


def reason_label(code: str) -> str:
    label = REASON_LABELS.get(code)
    return code if label is None else str(label)


def _filter(data, up_to: bool = False) -> services.RejectedFilter:
    cause = data.get("cause", "")
    limit = data.get("up_to", "") if up_to else ""
    return services.RejectedFilter(
        reason=cause if cause in RejectReason.values else "",
        ean=data.get("ean", "")[:40],
        source=data.get("source", "")[:200],
        up_to=int(limit) if limit.isdigit() else None,
    )


def _query(where: services.RejectedFilter) -> str:
    params = {"cause": where.reason, "ean": where.ean, "source": where.source}
    return urlencode({k: v for k, v in params.items() if v})


@console_view()
def rejected_readings(request: HttpRequest) -> HttpResponse:
    here = reverse("console:queue", args=["rejected-readings"])
    can_review = request.user.has_perm(perm("review_readings"))
    form = forms.ReasonForm(request.POST or None)
    if request.method == "POST":
        if not can_review:
            raise PermissionDenied("review_readings")
        where = _filter(request.POST, up_to=True)
        if form.is_valid():
            ids = [int(i) for i in request.POST.getlist("ids") if i.isdigit()]
            try:
                if request.POST.get("scope") == "filter":
                    review = services.mark_readings_reviewed(
                        request.user, form.cleaned_data["reason"], where=where
                    )
                else:
                    if not ids:
                        raise services.ActionError(
                            _("Cochez au moins un relevé, ou choisissez tout le filtre.")
                        )
                    review = services.mark_readings_reviewed(
                        request.user, form.cleaned_data["reason"], ids=ids
                    )
            except services.ActionError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(
                    request,
                    ngettext(
                        "%(n)s relevé marqué revu. Vous pouvez annuler cette revue ci-dessous.",
                        "%(n)s relevés marqués revus. Vous pouvez annuler cette revue ci-dessous.",
                        review.count,
                    )
                    % {"n": review.count},
                )
                query = _query(where)
                return redirect(f"{here}?{query}" if query else here)
    else:
        where = _filter(request.GET)
    matching = where.queryset()
    paginator = Paginator(matching.order_by("-received_at", "-pk"), PAGE_SIZE)
    rows = paginator.get_page(request.GET.get("page"))
    by_reason = (
        RejectedReading.objects.filter(reviewed=False)
        .values("reason")
        .annotate(n=Count("pk"))
        .order_by("-n", "reason")
    )
    reviews = (
        ReadingReview.objects.filter(undone_by__isnull=True)
        .select_related("action__user")
        .order_by("-pk")[:RECENT_REVIEWS]
    )
    query = _query(where)
    ctx = {
        "section": "home",
        "queue": queues.BY_SLUG["rejected-readings"],
        "total": queues.BY_SLUG["rejected-readings"].size(),
        "where": where,
        "query": query,
        "matching": paginator.count,
        # "All of the filter" covers the rows the operator saw, not those arriving meanwhile.
        "up_to": matching.aggregate(m=Max("pk"))["m"] or 0,
        "rows": [(r, reason_label(r.reason)) for r in rows],
        "page_obj": rows,
        "by_reason": [(r["reason"], reason_label(r["reason"]), r["n"]) for r in by_reason],
        "reason_choices": [(code, reason_label(code)) for code in RejectReason.values],
        "reviews": reviews if can_review else [],
        "can_review": can_review,
        "form": form,
    }
    return page(
        request,
        "backoffice/rejected_readings.html",
        ctx,
        status=400 if form.errors else 200,
    )


@console_view("review_readings")
def undo_review(request: HttpRequest, pk: int) -> HttpResponse:
    review = get_object_or_404(ReadingReview.objects.select_related("action__user"), pk=pk)
    back = reverse("console:queue", args=["rejected-readings"])

    def perform(form: forms.ReasonForm) -> str:
        n = services.undo_reading_review(request.user, review, form.cleaned_data["reason"])
        return ngettext(
            "Revue annulée : %(n)s relevé est de nouveau à revoir.",
            "Revue annulée : %(n)s relevés sont de nouveau à revoir.",
            n,
        ) % {"n": n}

    if review.undone_by_id is not None:
        messages.info(request, _("Cette revue a déjà été annulée."))
        return redirect(back)
    return _action(
        request,
        forms.ReasonForm,
        _("Annuler une revue de relevés refusés"),
        back,
        perform,
        {
            "explain": _(
                "%(n)s relevés marqués revus le %(at)s par %(who)s (« %(why)s ») retourneront "
                "dans la file."
            )
            % {
                "n": review.count,
                "at": clock.local(review.action.at).strftime("%d/%m/%Y %H:%M"),
                "who": review.action.user.get_username(),
                "why": review.action.reason,
            }
        },
    )
