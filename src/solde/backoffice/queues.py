"""The work queues of the console's home page: each says how many items wait and lists them.
A queue is a `Queue` in `QUEUES`; adding one is adding an entry (and its template block)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef, QuerySet
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from solde import clock
from solde.backoffice.models import FourEyesRequest, RequestStatus
from solde.notifications.models import Message, MessageStatus
from solde.orders.models import Order, OrderStatus
from solde.prepayment.models import (
    AccountState,
    CreditState,
    HeldRun,
    HeldRunStatus,
    PrepaymentAccount,
    Supply,
)
from solde.readings.models import Reading, RejectedReading
from solde.registry.models import Meter
from solde.topups.models import OnlinePayment, PaymentStatus, SuspenseItem, SuspenseStatus

# How long a meter may stay silent, and how far back failed orders are shown (days).
SILENT_DAYS = getattr(settings, "CONSOLE_SILENT_METER_DAYS", 3)
FAILED_ORDER_DAYS = getattr(settings, "CONSOLE_FAILED_ORDER_DAYS", 7)
LIST_LIMIT = 200


def held_runs() -> QuerySet:
    return (
        HeldRun.objects.filter(status=HeldRunStatus.HELD)
        .select_related("dso")
        .order_by("created_at")
    )


def approvals() -> QuerySet:
    return (
        FourEyesRequest.objects.filter(status=RequestStatus.PENDING)
        .select_related("requested_by", "account__supply_point__customer", "held_run")
        .order_by("requested_at")
    )


def suspense() -> QuerySet:
    return (
        SuspenseItem.objects.filter(status=SuspenseStatus.OPEN)
        .select_related("line")
        .order_by("created_at")
    )


def failed_orders() -> QuerySet:
    since = clock.now() - timedelta(days=FAILED_ORDER_DAYS)
    return (
        Order.objects.filter(
            status__in=(OrderStatus.FAILED, OrderStatus.EXPIRED), updated_at__gte=since
        )
        .select_related("meter__supply_point__customer")
        .order_by("-updated_at")
    )


def silent_meters() -> QuerySet:
    since = clock.now() - timedelta(days=SILENT_DAYS)
    recent = Reading.objects.filter(meter=OuterRef("pk"), at__gte=since)
    return (
        Meter.objects.filter(
            removed_at__isnull=True, supply_point__account__state=AccountState.ACTIVE
        )
        .annotate(recent=Exists(recent))
        .filter(recent=False)
        .select_related("supply_point__customer")
        .order_by("supply_point__ean")
    )


def waiting_accounts() -> QuerySet:
    return (
        PrepaymentAccount.objects.filter(state=AccountState.ACTIVE)
        .exclude(waiting_reason="")
        .select_related("supply_point__customer")
        .order_by("last_closed_day", "pk")
    )


def rejected_readings() -> QuerySet:
    """Shown by their own page (backoffice/rejected.py: by reason, filtered, marked reviewed)."""
    return RejectedReading.objects.filter(reviewed=False).order_by("-received_at", "-pk")


def planned_interruptions() -> QuerySet:
    """Exhausted accounts still supplied: credit control interrupts them at the next allowed
    window unless they are protected (gas in winter), paused by an operator, or topped up."""
    return (
        PrepaymentAccount.objects.filter(
            state=AccountState.ACTIVE,
            credit_state=CreditState.EXHAUSTED,
            supply=Supply.CONNECTED,
        )
        .select_related("supply_point__customer", "supply_point__dso", "balance_account")
        .order_by("exhausted_since")
    )


def undelivered_messages() -> QuerySet:
    return (
        Message.objects.filter(status=MessageStatus.FAILED)
        .select_related("customer", "event")
        .order_by("-created_at")
    )


def paid_not_credited() -> QuerySet:
    return (
        OnlinePayment.objects.filter(status=PaymentStatus.PAID, topup__isnull=True)
        .select_related("account__supply_point__customer")
        .order_by("created_at")
    )


@dataclass(frozen=True)
class Queue:
    slug: str
    label: str | Promise
    rows: Callable[[], QuerySet]
    # Grouped queues count their groups' items.
    count: Callable[[], int] | None = None

    def size(self) -> int:
        return self.count() if self.count else self.rows().count()


QUEUES: list[Queue] = [
    Queue("held-runs", _("Coupures massives retenues"), held_runs),
    Queue("approvals", _("Demandes à approuver (quatre yeux)"), approvals),
    Queue("suspense", _("Virements en attente d'attribution"), suspense),
    Queue("failed-orders", _("Ordres échoués ou expirés"), failed_orders),
    Queue("silent-meters", _("Compteurs silencieux"), silent_meters),
    Queue("waiting-accounts", _("Comptes en attente d'index ou de tarif"), waiting_accounts),
    Queue("rejected-readings", _("Relevés refusés, par raison"), rejected_readings),
    Queue(
        "planned-interruptions",
        _("Interruptions prévues à la prochaine plage"),
        planned_interruptions,
    ),
    Queue("undelivered", _("Messages non délivrés"), undelivered_messages),
    Queue("paid-not-credited", _("Paiements en ligne payés, non crédités"), paid_not_credited),
]
BY_SLUG = {q.slug: q for q in QUEUES}
