"""One timeline of everything that happened to a customer's supply points: readings received
(per day) and refused, days charged, top-ups, orders with their status ladder, credit
decisions, messages, portal activity and operator actions. Each source is read newest first
and capped, then merged."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from io import StringIO

from django.db.models import Count, Max, Min
from django.db.models.functions import TruncDate
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from solde import clock
from solde.backoffice.models import ActionKind, OperatorAction
from solde.notifications.models import Message, MessageStatus
from solde.notifications.render import kind_label
from solde.orders.models import Order, OrderKind
from solde.portal.models import ActivationCode
from solde.prepayment.models import CreditDecision, DayCharge, Decision
from solde.readings.models import Reading, RejectedReading
from solde.registry.models import Customer, SupplyPoint
from solde.topups.models import Channel, ManualAdjustment, Topup

PER_SOURCE = 200
READING_DAYS = 60

CATEGORIES = {
    "reading": gettext_lazy("Relevés"),
    "charge": gettext_lazy("Jours facturés"),
    "topup": gettext_lazy("Recharges"),
    "order": gettext_lazy("Ordres au compteur"),
    "decision": gettext_lazy("Décisions de crédit"),
    "message": gettext_lazy("Messages"),
    "portal": gettext_lazy("Portail"),
    "operator": gettext_lazy("Actions des opérateurs"),
}


@dataclass
class Entry:
    at: datetime
    category: str
    ean: str
    title: str
    detail: str = ""
    tone: str = ""  # "", "warning", "danger"
    amount_cents: int | None = None

    @property
    def category_label(self) -> str:
        return str(CATEGORIES[self.category])


def _eur(cents: int) -> str:
    return f"{cents / 100:+.2f} €"


def _readings(sps: list[SupplyPoint]) -> Iterable[Entry]:
    eans = {sp.pk: sp.ean for sp in sps}
    since = clock.now() - timedelta(days=READING_DAYS)
    per_day = (
        Reading.objects.filter(meter__supply_point__in=sps, at__gte=since)
        .annotate(day=TruncDate("at", tzinfo=clock.BRUSSELS))
        .values("meter__supply_point_id", "meter__serial", "day")
        .annotate(n=Count("pk"), last=Max("at"), first=Min("at"))
        .order_by("-day")[:PER_SOURCE]
    )
    for row in per_day:
        yield Entry(
            at=row["last"],
            category="reading",
            ean=eans[row["meter__supply_point_id"]],
            title=_("%(count)s relevés reçus du compteur %(serial)s")
            % {"count": row["n"], "serial": row["meter__serial"]},
            detail=_("le %(day)s") % {"day": row["day"].strftime("%d/%m/%Y")},
        )
    refused = RejectedReading.objects.filter(ean__in=list(eans.values())).order_by("-received_at")
    for r in refused[:PER_SOURCE]:
        yield Entry(
            at=r.received_at,
            category="reading",
            ean=r.ean,
            title=_("Relevé refusé : %(reason)s") % {"reason": r.get_reason_display()},
            detail=f"{r.meter} {r.register} {r.at} = {r.value} {r.unit} — {r.detail}",
            tone="warning",
        )


def _charges(sps: list[SupplyPoint]) -> Iterable[Entry]:
    days = DayCharge.objects.filter(account__supply_point__in=sps).select_related(
        "account__supply_point"
    )
    for d in days.order_by("-day")[:PER_SOURCE]:
        kwh = sum((Decimal(v) for v in (d.kwh or {}).values()), Decimal(0))
        price = (Decimal(d.charge_cents) / 100 / kwh).quantize(Decimal("0.00001")) if kwh else None
        registers = ", ".join(f"{k}: {v} kWh" for k, v in sorted((d.kwh or {}).items()))
        yield Entry(
            at=d.closed_at,
            category="charge",
            ean=d.account.supply_point.ean,
            title=_("Journée du %(day)s facturée : %(kwh)s kWh, %(amount)s")
            % {"day": d.day.strftime("%d/%m/%Y"), "kwh": kwh, "amount": _eur(-d.charge_cents)},
            detail=(
                f"{registers}"
                + (f" — {price} €/kWh" if price is not None else "")
                + (
                    " — "
                    + _("avance remboursée : %(amount)s") % {"amount": _eur(-d.recovery_cents)}
                    if d.recovery_cents
                    else ""
                )
            ),
            amount_cents=-d.charge_cents,
        )


def _topups(sps: list[SupplyPoint]) -> Iterable[Entry]:
    rows = Topup.objects.filter(supply_point__in=sps).select_related("supply_point", "partner")
    for t in rows.order_by("-credited_at")[:PER_SOURCE]:
        who = t.partner.name if t.partner is not None else (t.payer or "")
        yield Entry(
            at=t.credited_at,
            category="topup",
            ean=t.supply_point.ean,
            title=_("Recharge %(channel)s : %(amount)s")
            % {"channel": Channel(t.channel).label, "amount": _eur(t.amount_cents)},
            detail=" — ".join(
                x
                for x in (
                    who,
                    t.get_status_display(),
                    _("solde après : %(b)s") % {"b": _eur(t.balance_after_cents)},
                )
                if x
            ),
            tone="warning" if t.reversed_cents else "",
            amount_cents=t.amount_cents,
        )
    adjustments = ManualAdjustment.objects.filter(
        account__supply_point__in=sps, topup__isnull=True
    ).select_related("account__supply_point", "operator")
    for a in adjustments.order_by("-created_at")[:PER_SOURCE]:
        yield Entry(
            at=a.created_at,
            category="topup",
            ean=a.account.supply_point.ean,
            title=_("Correction du solde : %(amount)s") % {"amount": _eur(a.amount_cents)},
            detail=f"{a.operator.get_username() if a.operator else ''} — {a.reason}",
            amount_cents=a.amount_cents,
        )


def _orders(sps: list[SupplyPoint]) -> Iterable[Entry]:
    orders = (
        Order.objects.filter(meter__supply_point__in=sps)
        .select_related("meter__supply_point")
        .prefetch_related("events")
        .order_by("-created_at")[:PER_SOURCE]
    )
    for o in orders:
        ladder = " → ".join(
            f"{e.get_status_display()} {clock.local(e.at):%d/%m %H:%M}"
            for e in o.events.all()
            if e.kind == "status"
        )
        yield Entry(
            at=o.created_at,
            category="order",
            ean=o.meter.supply_point.ean,
            title=_("Ordre %(kind)s : %(status)s")
            % {"kind": o.get_kind_display(), "status": o.get_status_display()},
            detail=" — ".join(x for x in (ladder, o.reason, _shown(o), o.detail) if x),
            tone="danger" if o.status in ("failed", "expired") else "",
        )


def _shown(order: Order) -> str:
    """What a balance display asked the meter to show (a display has no credit decision of
    its own: its order is the record, 0012)."""
    pages = order.params if order.kind == OrderKind.DISPLAY_BALANCE else None
    if not pages or "2" not in pages:
        return ""
    return _("affiché : solde %(balance)s €, crédit de secours restant %(left)s €") % {
        "balance": pages["2"],
        "left": pages.get("3", "—"),
    }


def _decisions(sps: list[SupplyPoint]) -> Iterable[Entry]:
    rows = CreditDecision.objects.filter(account__supply_point__in=sps).select_related(
        "account__supply_point"
    )
    for d in rows.order_by("-at")[:PER_SOURCE]:
        yield Entry(
            at=d.at,
            category="decision",
            ean=d.account.supply_point.ean,
            title=str(Decision(d.decision).label),
            detail=_("règle : %(rule)s — solde %(balance)s, limite %(limit)s")
            % {"rule": d.rule, "balance": _eur(d.balance_cents), "limit": _eur(-d.limit_cents)},
            tone="danger" if d.decision in ("interrupt", "held") else "",
        )


def _messages(customer: Customer, sps: list[SupplyPoint]) -> Iterable[Entry]:
    rows = Message.objects.filter(customer=customer).select_related("event__supply_point")
    for m in rows.order_by("-created_at")[:PER_SOURCE]:
        yield Entry(
            at=m.sent_at or m.created_at,
            category="message",
            ean=m.event.supply_point.ean,
            title=f"{kind_label(m.event.kind)} — {m.get_channel_display()} : "
            f"{m.get_status_display()}",
            detail=" — ".join(
                x for x in (m.recipient_name or m.recipient, m.subject, m.error) if x
            ),
            tone="danger" if m.status == MessageStatus.FAILED else "",
        )


def _portal(customer: Customer, sps: list[SupplyPoint]) -> Iterable[Entry]:
    for code in ActivationCode.objects.filter(supply_point__in=sps).select_related("supply_point"):
        yield Entry(
            at=code.issued_at,
            category="portal",
            ean=code.supply_point.ean,
            title=_("Code d'activation émis"),
            detail=_("valable jusqu'au %(day)s")
            % {"day": clock.local(code.expires_at).strftime("%d/%m/%Y")},
        )
        if code.used_at:
            yield Entry(
                at=code.used_at,
                category="portal",
                ean=code.supply_point.ean,
                title=_("Code d'activation utilisé : compte du portail lié"),
            )
    user = customer.user
    if user is not None:
        yield Entry(
            at=user.date_joined, category="portal", ean="", title=_("Compte du portail créé")
        )
        if user.last_login:
            yield Entry(
                at=user.last_login,
                category="portal",
                ean="",
                title=_("Dernière connexion au portail"),
            )


def _operators(customer: Customer) -> Iterable[Entry]:
    rows = OperatorAction.objects.filter(customer=customer).select_related("user", "supply_point")
    for a in rows.order_by("-at")[:PER_SOURCE]:
        yield Entry(
            at=a.at,
            category="operator",
            ean=a.supply_point.ean if a.supply_point is not None else "",
            title=f"{ActionKind(a.kind).label} — {a.user.get_username()}",
            detail=_("raison : %(reason)s") % {"reason": a.reason} + f" — {a.summary}",
        )


def timeline(customer: Customer, categories: set[str] | None = None, ean: str = "") -> list[Entry]:
    sps = list(customer.supply_points.all())
    if ean:
        sps = [sp for sp in sps if sp.ean == ean]
    wanted = categories or set(CATEGORIES)
    sources = {
        "reading": lambda: _readings(sps),
        "charge": lambda: _charges(sps),
        "topup": lambda: _topups(sps),
        "order": lambda: _orders(sps),
        "decision": lambda: _decisions(sps),
        "message": lambda: _messages(customer, sps),
        "portal": lambda: _portal(customer, sps),
        "operator": lambda: _operators(customer),
    }
    entries: list[Entry] = []
    for name, source in sources.items():
        if name in wanted:
            entries.extend(e for e in source() if not ean or not e.ean or e.ean == ean)
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries


def cell(value: str) -> str:
    """A CSV cell a spreadsheet will not run as a formula."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def to_csv(entries: list[Entry]) -> str:
    out = StringIO()
    w = csv.writer(out)
    w.writerow(["at", "category", "ean", "title", "detail", "amount_eur"])
    for e in entries:
        w.writerow(
            [
                clock.local(e.at).isoformat(),
                e.category,
                e.ean,
                cell(e.title),
                cell(e.detail),
                "" if e.amount_cents is None else f"{e.amount_cents / 100:.2f}",
            ]
        )
    return out.getvalue()
