"""The console's actions. Each is one transaction that checks the operator's permission,
requires a reason, does the work through the owning app's service and records an
`OperatorAction` (who, when, what, why); the audit entries written meanwhile carry the reason."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date

from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.utils.translation import gettext as _

from solde import clock, privacy
from solde.backoffice import rules
from solde.backoffice.audit import operator_reason
from solde.backoffice.models import (
    ActionKind,
    AdjustmentLimit,
    FourEyesRequest,
    OperatorAction,
    ReadingReview,
    RequestKind,
    RequestStatus,
)
from solde.backoffice.roles import perm
from solde.notifications import services as notifications
from solde.notifications.models import Message
from solde.orders.models import INTERRUPTION_KINDS, PENDING_STATUSES, Order, OrderKind
from solde.orders.services import cancel_orders, request_order
from solde.portal.models import ActivationCode
from solde.portal.services import issue_activation_codes
from solde.prepayment import credit_control
from solde.prepayment.models import HeldRun, HeldRunStatus, PrepaymentAccount, Supply
from solde.prepayment.services import balance_view
from solde.readings.models import RejectedReading
from solde.registry.models import Customer, SupplyPoint
from solde.topups import bank
from solde.topups import services as topups
from solde.topups.models import AdjustmentKind, ManualAdjustment, SuspenseItem, SuspenseStatus


class ActionError(ValueError):
    """An action refused with a sentence the operator can act on; nothing was written."""


def _check(user, codename: str) -> None:
    if not (user.is_active and user.is_staff and user.has_perm(perm(codename))):
        raise PermissionDenied(codename)


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ActionError(
            _("Indiquez la raison : elle est obligatoire et reste dans l'historique.")
        )
    return reason


def _record(user, kind: str, reason: str, summary: str, sp=None, customer=None, **details):
    if sp is not None and customer is None:
        customer = sp.customer
    return OperatorAction.objects.create(
        at=clock.now(),
        user=user,
        kind=kind,
        reason=reason,
        customer=customer,
        supply_point=sp,
        summary=summary[:300],
        details=details,
    )


# --- Adjustments (four eyes above the operator's limit) ---------------------------------------


def adjustment_limit(user, dso_id: str | None) -> int | None:
    """What the user may credit or debit alone (cents): the highest of their roles' limits, a
    DSO's own row winning over the role's default. None: no limit set, every adjustment waits."""
    rows = AdjustmentLimit.objects.filter(group__in=user.groups.all()).values_list(
        "group_id", "dso_id", "limit_cents"
    )
    per_group: dict[int, int] = {}
    for group_id, row_dso, cents in sorted(rows, key=lambda r: r[1] is not None):
        if row_dso is None or row_dso == dso_id:
            per_group[group_id] = cents  # the DSO's row comes last and wins
    if user.is_superuser and not per_group:
        return max(AdjustmentLimit.objects.values_list("limit_cents", flat=True), default=None)
    return max(per_group.values(), default=None)


def _post_adjustment(account, amount_cents: int, kind: str, reason: str, operator, note: str):
    try:
        return topups.manual_adjustment(account, amount_cents, reason, operator, kind)
    except topups.TopupError as exc:
        raise ActionError(str(exc)) from exc


@transaction.atomic
def adjust(user, account: PrepaymentAccount, amount_cents: int, kind: str, reason: str):
    """Credit (positive) or debit (negative) an account. Within the operator's limit it is
    posted at once (returns the ManualAdjustment); above it waits for a second person (returns
    the FourEyesRequest)."""
    _check(user, "adjust_balance")
    reason = _reason(reason)
    if kind not in AdjustmentKind.values:
        raise ActionError(_("Choisissez le type d'ajustement."))
    if amount_cents == 0:
        raise ActionError(_("Indiquez un montant différent de zéro."))
    sp = account.supply_point
    limit = adjustment_limit(user, sp.dso_id)
    with operator_reason(user, ActionKind.ADJUSTMENT, reason):
        if rules.needs_second_person(amount_cents, limit):
            req = FourEyesRequest.objects.create(
                kind=RequestKind.ADJUSTMENT,
                account=account,
                adjustment_kind=kind,
                amount_cents=amount_cents,
                reason=reason,
                requested_by=user,
                requested_at=clock.now(),
            )
            _record(
                user,
                ActionKind.ADJUSTMENT_REQUESTED,
                reason,
                f"request {req.pk}: {amount_cents / 100:+.2f} € {kind}",
                sp=sp,
                request=req.pk,
                amount_cents=amount_cents,
                limit_cents=limit,
            )
            return req
        adj = _post_adjustment(account, amount_cents, kind, reason, user, "")
        _record(
            user,
            ActionKind.ADJUSTMENT,
            reason,
            f"adjustment {adj.pk}: {amount_cents / 100:+.2f} € {kind}",
            sp=sp,
            adjustment=adj.pk,
            amount_cents=amount_cents,
        )
        return adj


# --- Held mass cuts (supervisor, four eyes) -------------------------------------------------


@transaction.atomic
def request_held_run_decision(user, run: HeldRun, release: bool, reason: str) -> FourEyesRequest:
    """A supervisor proposes to release (send) or cancel a held mass cut; a second supervisor
    carries it out."""
    _check(user, "decide_held_run")
    reason = _reason(reason)
    run = HeldRun.objects.select_for_update().get(pk=run.pk)
    if run.status != HeldRunStatus.HELD:
        raise ActionError(_("Cette coupure massive n'est plus en attente."))
    if FourEyesRequest.objects.filter(held_run=run, status=RequestStatus.PENDING).exists():
        raise ActionError(_("Une demande attend déjà un second superviseur pour ce passage."))
    kind = RequestKind.RELEASE_HELD_RUN if release else RequestKind.REJECT_HELD_RUN
    with operator_reason(user, ActionKind.HELD_RUN_REQUESTED, reason):
        req = FourEyesRequest.objects.create(
            kind=kind,
            held_run=run,
            reason=reason,
            requested_by=user,
            requested_at=clock.now(),
            amount_cents=run.count,
        )
        _record(
            user,
            ActionKind.HELD_RUN_REQUESTED,
            reason,
            f"request {req.pk}: {kind} held run {run.pk} ({run.dso_id}, {run.count})",
            request=req.pk,
            held_run=run.pk,
        )
    return req


def approver_permission(req: FourEyesRequest) -> str:
    """What the second person needs to carry out a request."""
    return {
        RequestKind.ADJUSTMENT: "approve_adjustment",
        RequestKind.RELEASE_HELD_LINE: "release_held_line",
    }.get(RequestKind(req.kind), "decide_held_run")


REFUSED = {
    RequestKind.ADJUSTMENT: ActionKind.ADJUSTMENT_REFUSED,
    RequestKind.RELEASE_HELD_LINE: ActionKind.HELD_LINE_REFUSED,
}


@transaction.atomic
def decide(user, req: FourEyesRequest, approve: bool, reason: str) -> str:
    """The second person approves (the action is carried out now) or refuses a request.
    Returns what was done, for the operator."""
    req = FourEyesRequest.objects.select_for_update().get(pk=req.pk)
    _check(user, approver_permission(req))
    reason = _reason(reason)
    if req.status != RequestStatus.PENDING:
        raise ActionError(_("Cette demande a déjà été traitée."))
    if not rules.can_approve(req.requested_by_id, user.pk):
        raise ActionError(
            _("Une autre personne doit approuver : vous ne pouvez pas approuver votre demande.")
        )
    now = clock.now()
    sp = req.account.supply_point if req.account is not None else None
    if not approve:
        kind = REFUSED.get(RequestKind(req.kind), ActionKind.HELD_RUN_REFUSED)
        result = _("Demande refusée : rien n'a été exécuté.")
    elif req.kind == RequestKind.ADJUSTMENT:
        assert req.account is not None
        kind = ActionKind.ADJUSTMENT_APPROVED
        with operator_reason(user, kind, reason):
            adj = _post_adjustment(
                req.account,
                req.amount_cents,
                req.adjustment_kind,
                f"{req.reason} — {_('approuvé par')} {user.get_username()}: {reason}",
                req.requested_by,
                reason,
            )
        result = _("Ajustement de %(amount)s € passé.") % {
            "amount": f"{req.amount_cents / 100:+.2f}"
        }
        _record(
            user,
            ActionKind.ADJUSTMENT,
            req.reason,
            f"adjustment {adj.pk}: {req.amount_cents / 100:+.2f} € {req.adjustment_kind}",
            sp=sp,
            adjustment=adj.pk,
            request=req.pk,
            requested_by=req.requested_by.get_username(),
            amount_cents=req.amount_cents,
        )
    elif req.kind == RequestKind.RELEASE_HELD_LINE:
        kind = ActionKind.HELD_LINE_RELEASED
        result = _release_held_line(user, req, reason)
    else:
        assert req.held_run_id is not None
        try:
            with transaction.atomic():
                if req.kind == RequestKind.RELEASE_HELD_RUN:
                    kind = ActionKind.HELD_RUN_RELEASED
                    res = credit_control.release_held_run(req.held_run_id, user=user)
                    result = _("%(sent)s interruptions envoyées, %(skipped)s plus justifiées.") % {
                        "sent": len(res.interrupted),
                        "skipped": len(res.skipped),
                    }
                else:
                    kind = ActionKind.HELD_RUN_REJECTED
                    n = credit_control.reject_held_run(req.held_run_id, user=user)
                    result = _("%(count)s interruptions annulées.") % {"count": n}
        except (ValueError, credit_control.NotInWindow) as exc:
            raise ActionError(str(exc)) from exc
    with operator_reason(user, kind, reason):
        req.status = RequestStatus.APPROVED if approve else RequestStatus.REFUSED
        req.decided_by, req.decided_at, req.decision_reason = user, now, reason
        req.result = str(result)[:300]
        req.save()
        _record(
            user,
            kind,
            reason,
            f"request {req.pk} ({req.kind}) {req.status}: {req.result}",
            sp=sp,
            request=req.pk,
            requested_by=req.requested_by.get_username(),
        )
    return str(result)


# --- Customer actions -----------------------------------------------------------------------


@transaction.atomic
def reissue_code(user, sp: SupplyPoint, reason: str) -> str:
    """A new activation code; the unused ones stop working. Sent by the notifications app on
    the customer's channels (e-mail when there is an address, else a letter PDF). Returns
    where it goes."""
    _check(user, "reissue_code")
    reason = _reason(reason)
    now = clock.now()
    with operator_reason(user, ActionKind.REISSUE_CODE, reason):
        # issue_activation_codes revokes them; counted first for the audit trail.
        revoked = ActivationCode.objects.filter(
            supply_point=sp, used_at__isnull=True, expires_at__gt=now
        ).count()
        issue_activation_codes([sp])
        pref = notifications.contact_preferences(sp.customer)
        targets = notifications.targets_for("activation_code_issued", sp.customer, pref, [])
        where = ", ".join(str(t.channel) for t in targets) or "letter"
        _record(
            user,
            ActionKind.REISSUE_CODE,
            reason,
            f"new activation code for {sp.ean} ({where}); {revoked} old code(s) revoked",
            sp=sp,
            revoked=revoked,
            channels=where,
        )
    return where


@transaction.atomic
def pause_interruptions(user, account: PrepaymentAccount, until: date | None, reason: str) -> int:
    """Pause interruptions up to and including `until` (None: allow them again). Pending
    interruption orders are cancelled. Returns how many were."""
    _check(user, "pause_interruptions")
    reason = _reason(reason)
    today = clock.local_date(clock.now())
    if until is not None and until < today:
        raise ActionError(_("Choisissez une date d'aujourd'hui ou plus tard."))
    if until is not None and (until - today).days > 366:
        raise ActionError(_("Une suspension dure au plus un an : choisissez une date plus proche."))
    account = PrepaymentAccount.objects.select_for_update().get(pk=account.pk)
    sp = account.supply_point
    kind = ActionKind.PAUSE_INTERRUPTIONS if until else ActionKind.RESUME_INTERRUPTIONS
    with operator_reason(user, kind, reason):
        account.interruptions_paused_until = until
        account.save(update_fields=["interruptions_paused_until"])
        cancelled = 0
        if until:
            pending = Order.objects.filter(
                meter__supply_point=sp, status__in=PENDING_STATUSES, kind__in=INTERRUPTION_KINDS
            ).values_list("pk", flat=True)
            cancelled = cancel_orders(list(pending), who=f"operator {user.get_username()}")
        _record(
            user,
            kind,
            reason,
            f"interruptions of {sp.ean} paused until {until}"
            if until
            else f"interruptions of {sp.ean} allowed again",
            sp=sp,
            until=until.isoformat() if until else None,
            cancelled_orders=cancelled,
        )
    return cancelled


ORDERABLE = ("reconnect", "display_balance")


@transaction.atomic
def order_meter(user, sp: SupplyPoint, what: str, reason: str) -> Order:
    """Order a reconnection (or the limiter's removal on a limited supply) or a balance
    display on the supply point's meter."""
    _check(user, "order_meter")
    reason = _reason(reason)
    if what not in ORDERABLE:
        raise ActionError(_("Choisissez un ordre : rétablissement ou affichage du solde."))
    meter = sp.meters.filter(removed_at__isnull=True).order_by("-pk").first()
    if meter is None:
        raise ActionError(_("Aucun compteur n'est posé sur ce point de fourniture."))
    account = PrepaymentAccount.objects.select_related(
        "balance_account", "advance_account", "supply_point__dso"
    ).get(supply_point=sp)
    view = balance_view(account)
    params: dict = {}
    if what == "display_balance":
        kind = OrderKind.DISPLAY_BALANCE
        params = credit_control.display_params(
            view.balance_cents, view.emergency_credit_limit_cents, view.last_update
        )
    else:
        if view.balance_cents <= -view.emergency_credit_limit_cents:
            raise ActionError(
                _(
                    "Le crédit est épuisé : un rétablissement serait annulé par le contrôle du "
                    "crédit. Ajoutez d'abord du crédit."
                )
            )
        kind = OrderKind.REMOVE_LIMIT if account.supply == Supply.LIMITED else OrderKind.RECONNECT
    with operator_reason(user, ActionKind.ORDER, reason):
        order = request_order(
            meter.pk, kind, f"operator {user.get_username()}: {reason}"[:300], params
        )
        _record(
            user,
            ActionKind.ORDER,
            reason,
            f"order {order.pk}: {kind} on meter {meter.serial}",
            sp=sp,
            order=order.pk,
            order_kind=str(kind),
        )
    return order


@transaction.atomic
def resend_message(user, message: Message, reason: str) -> bool:
    """Send a message again. A message whose activation code was scrubbed is refused: reissue
    a code instead."""
    _check(user, "resend_message")
    reason = _reason(reason)
    queued, _refused = notifications.resend([message.pk])
    if not queued:
        raise ActionError(
            _(
                "Ce message contenait un code d'activation effacé après l'envoi : émettez un "
                "nouveau code à la place."
            )
        )
    sp = message.event.supply_point
    _record(
        user,
        ActionKind.RESEND_MESSAGE,
        reason,
        f"message {message.pk} ({message.channel} → {message.recipient}) queued again",
        sp=sp,
        customer=message.customer,
        message=message.pk,
    )
    return True


CONTACT_FIELDS = ("first_name", "last_name", "email", "phone", "language")


@transaction.atomic
def correct_contact(user, customer: Customer, data: dict, reason: str) -> list[str]:
    """Correct a customer's name, e-mail, phone or language. Returns the fields changed."""
    _check(user, "edit_contact")
    reason = _reason(reason)
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    changed = [f for f in CONTACT_FIELDS if f in data and data[f] != getattr(customer, f)]
    if not changed:
        raise ActionError(_("Rien n'a changé : corrigez au moins une donnée."))
    before = {f: getattr(customer, f) for f in changed}
    with operator_reason(user, ActionKind.CONTACT, reason):
        for f in changed:
            setattr(customer, f, data[f])
        customer.save(update_fields=changed)
        u = customer.user
        if u is not None and "email" in changed:
            # The e-mail is also the portal login.
            u.username = u.email = customer.email.lower()
            u.save(update_fields=["username", "email"])
        _record(
            user,
            ActionKind.CONTACT,
            reason,
            f"contact details of customer {customer.pk}: {', '.join(changed)}",
            customer=customer,
            before=before,
            after={f: getattr(customer, f) for f in changed},
        )
    return changed


@transaction.atomic
def match_suspense(user, item: SuspenseItem, reference: str, reason: str):
    """Move an unmatched bank transfer to the account of an EAN or customer reference (returns
    the top-up). A transfer held above the per-line limit is not moved by one person: it
    becomes a release request that a supervisor, another person, approves (returns the
    FourEyesRequest; `decide` credits it)."""
    _check(user, "match_suspense")
    reason = _reason(reason)
    if bank.above_line_limit(item.amount_cents):
        return _request_held_line_release(user, item, reference, reason)
    with operator_reason(user, ActionKind.SUSPENSE_MATCHED, reason):
        try:
            topup = bank.match_suspense(item, reference, by=user.get_username())
        except topups.TopupError as exc:
            raise ActionError(str(exc)) from exc
        _record(
            user,
            ActionKind.SUSPENSE_MATCHED,
            reason,
            f"bank line {item.line.key} → top-up {topup.pk} on {topup.supply_point.ean}",
            sp=topup.supply_point,
            suspense=item.pk,
            topup=topup.pk,
        )
    return topup


def _request_held_line_release(
    user, item: SuspenseItem, reference: str, reason: str
) -> FourEyesRequest:
    item = SuspenseItem.objects.select_for_update().select_related("line").get(pk=item.pk)
    if item.status != SuspenseStatus.OPEN:
        raise ActionError(_("Ce virement a déjà été traité."))
    if FourEyesRequest.objects.filter(suspense_item=item, status=RequestStatus.PENDING).exists():
        raise ActionError(
            _(
                "Une demande de libération de ce virement attend déjà l'approbation d'un "
                "superviseur."
            )
        )
    try:
        account = topups.open_account_for(topups.find_supply_point(reference))
    except topups.TopupError as exc:
        raise ActionError(str(exc)) from exc
    sp = account.supply_point
    with operator_reason(user, ActionKind.HELD_LINE_REQUESTED, reason):
        req = FourEyesRequest.objects.create(
            kind=RequestKind.RELEASE_HELD_LINE,
            suspense_item=item,
            account=account,
            amount_cents=item.amount_cents,
            reason=reason,
            requested_by=user,
            requested_at=clock.now(),
        )
        _record(
            user,
            ActionKind.HELD_LINE_REQUESTED,
            reason,
            f"request {req.pk}: release held bank line {item.line.key} "
            f"({item.amount_cents / 100:.2f} €) to {sp.ean}",
            sp=sp,
            request=req.pk,
            suspense=item.pk,
            amount_cents=item.amount_cents,
        )
    return req


def _release_held_line(user, req: FourEyesRequest, reason: str) -> str:
    """The supervisor's approval: the held line is credited to the account the requester
    named, as one top-up from suspense."""
    assert req.suspense_item_id is not None and req.account is not None
    item = SuspenseItem.objects.select_related("line").get(pk=req.suspense_item_id)
    sp = req.account.supply_point
    with operator_reason(user, ActionKind.HELD_LINE_RELEASED, reason):
        try:
            topup = bank.match_suspense(
                item,
                sp.ean,
                by=f"{req.requested_by.get_username()}, {user.get_username()}",
            )
        except topups.TopupError as exc:
            raise ActionError(str(exc)) from exc
        _record(
            user,
            ActionKind.SUSPENSE_MATCHED,
            req.reason,
            f"bank line {item.line.key} → top-up {topup.pk} on {sp.ean}",
            sp=sp,
            suspense=item.pk,
            topup=topup.pk,
            request=req.pk,
            requested_by=req.requested_by.get_username(),
        )
    return _("Virement de %(amount)s € crédité sur l'EAN %(ean)s.") % {
        "amount": f"{item.amount_cents / 100:.2f}",
        "ean": sp.ean,
    }


def adjustments_of(account: PrepaymentAccount):
    return ManualAdjustment.objects.filter(account=account).order_by("-created_at")


# --- Personal data (GDPR erasure) -------------------------------------------------------------


@transaction.atomic
def erase_customer(user, customer: Customer, reason: str, dry_run: bool = False):
    """Erase the person behind a closed customer after the retention period (supervisors).
    A dry run returns what would change and writes nothing; a refusal is an ActionError."""
    _check(user, "erase_customer")
    reason = _reason(reason)
    try:
        if dry_run:
            return privacy.plan_erasure(customer)
        with operator_reason(user, ActionKind.ERASURE, reason):
            plan = privacy.erase(customer)
            _record(
                user,
                ActionKind.ERASURE,
                reason,
                f"personal data of customer {customer.pk} erased",
                customer=customer,
                changes=plan.changes,
                closed_at=plan.closed_at.isoformat() if plan.closed_at else None,
            )
    except privacy.ErasureRefused as exc:
        raise ActionError(str(exc)) from exc
    return plan


# --- Rejected readings: reviewed, and undone --------------------------------------------------

# Rows written per statement: SQLite allows 32,766 parameters in one.
_CHUNK = 5000


@dataclass(frozen=True)
class RejectedFilter:
    """The rejected-readings queue's filter: unreviewed rows, by reason, EAN or meter serial,
    and source; `up_to` keeps to the rows the operator saw (ids only grow)."""

    reason: str = ""
    ean: str = ""  # an EAN or a meter serial, as typed
    source: str = ""
    up_to: int | None = None

    def queryset(self):
        qs = RejectedReading.objects.filter(reviewed=False)
        if self.reason:
            qs = qs.filter(reason=self.reason)
        ean = "".join(self.ean.split())
        if ean:
            qs = qs.filter(models.Q(ean=ean) | models.Q(meter=ean))
        if self.source:
            qs = qs.filter(source__icontains=self.source.strip())
        if self.up_to is not None:
            qs = qs.filter(pk__lte=self.up_to)
        return qs

    def scope(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v not in ("", None)}


@transaction.atomic
def mark_readings_reviewed(
    user,
    reason: str,
    *,
    ids: list[int] | None = None,
    where: RejectedFilter | None = None,
) -> ReadingReview:
    """Mark the chosen rejected readings reviewed: the ids ticked on the queue, or every row of
    the queue's filter. One action, one reason; rows reviewed meanwhile are left out. Returns
    the review (its `count` says how many rows it marked) for an undo."""
    _check(user, "review_readings")
    reason = _reason(reason)
    if ids is not None:
        qs = RejectedReading.objects.filter(reviewed=False, pk__in=ids)
        scope: dict = {"selection": len(ids)}
    elif where is not None:
        qs = where.queryset()
        scope = {"filter": where.scope()}
    else:
        raise ActionError(_("Cochez au moins un relevé, ou choisissez tout le filtre."))
    # Locked, so a concurrent review cannot take the same rows: each is in one review only.
    marked = list(qs.select_for_update().order_by("pk").values_list("pk", flat=True))
    if not marked:
        raise ActionError(_("Aucun relevé à marquer : ils sont peut-être déjà revus."))
    with operator_reason(user, ActionKind.READINGS_REVIEWED, reason):
        action = _record(
            user,
            ActionKind.READINGS_REVIEWED,
            reason,
            f"{len(marked)} rejected readings marked reviewed",
            count=len(marked),
            **scope,
        )
        review = ReadingReview.objects.create(action=action, count=len(marked), scope=scope)
        through = ReadingReview.readings.through
        for start in range(0, len(marked), _CHUNK):
            chunk = marked[start : start + _CHUNK]
            RejectedReading.objects.filter(pk__in=chunk).update(reviewed=True)
            through.objects.bulk_create(
                [through(readingreview_id=review.pk, rejectedreading_id=pk) for pk in chunk]
            )
        action.details["review"] = review.pk
        action.save(update_fields=["details"])
    return review


@transaction.atomic
def undo_reading_review(user, review: ReadingReview, reason: str) -> int:
    """Put the rows of one review back in the queue (unreviewed), once. Returns how many."""
    _check(user, "review_readings")
    reason = _reason(reason)
    review = ReadingReview.objects.select_for_update().get(pk=review.pk)
    if review.undone_by_id is not None:
        raise ActionError(_("Cette revue a déjà été annulée."))
    ids = review.readings.values_list("pk", flat=True)
    with operator_reason(user, ActionKind.READINGS_REVIEW_UNDONE, reason):
        restored = RejectedReading.objects.filter(pk__in=ids, reviewed=True).update(reviewed=False)
        review.undone_by = _record(
            user,
            ActionKind.READINGS_REVIEW_UNDONE,
            reason,
            f"review {review.pk} undone: {restored} rejected readings back in the queue",
            review=review.pk,
            count=restored,
        )
        review.save(update_fields=["undone_by"])
    return restored
