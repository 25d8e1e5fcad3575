"""Personal data (GDPR): what Solde holds about one customer (access, art. 15) and the erasure of
the person behind a closed customer after the retention period (art. 17), keeping the ledger.

It sits above the domain apps (it reads and scrubs their rows), like the console; registry does
not import it. The console's supervisor action and `solde erase-customer` both go through
`backoffice.services.erase_customer`, which audits; this module does the work.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils.translation import gettext as _

from solde import clock
from solde.ledger.models import Entry
from solde.notifications.models import (
    ContactPreference,
    EventKind,
    ExtraRecipient,
    Message,
)
from solde.portal.models import ActivationCode, NoticeRead
from solde.prepayment.models import AccountState, DayCharge, PrepaymentAccount
from solde.registry.models import Customer, SupplyPoint
from solde.topups.models import BankLine, OnlinePayment, PaymentCustomer, Topup

ERASED_NAME = "Effacé"

log = logging.getLogger(__name__)


class ErasureRefused(ValueError):
    """The customer may not be erased (yet); the sentence says why. Nothing was written."""


def mask_iban(iban: str) -> str:
    """`BE68 5390 0754 7034` → `BE…7034`: enough to tell two lines apart, not to pay from."""
    compact = "".join(iban.split())
    if len(compact) <= 6:
        return "…" if compact else ""
    return f"{compact[:2]}…{compact[-4:]}"


# --- Access: everything about one customer -----------------------------------------------------


def _dt(value):
    return value.isoformat() if value else None


def export_customer(customer: Customer) -> dict:
    """Everything Solde holds about `customer`, as plain JSON-able data. Only rows reached from
    this customer; no secret (password hash, activation-code hash, provider tokens)."""
    user = customer.user
    pref = ContactPreference.objects.filter(customer=customer).first()
    sps = list(
        SupplyPoint.objects.filter(customer=customer)
        .select_related("dso", "account__balance_account", "account__advance_account")
        .order_by("energy", "ean")
    )
    data: dict = {
        "generated_at": _dt(clock.now()),
        "controller": "Solde — " + ", ".join(sorted({sp.dso.name for sp in sps})),
        "identity": {
            "customer_id": customer.pk,
            "first_name": customer.first_name,
            "last_name": customer.last_name,
            "email": customer.email,
            "phone": customer.phone,
            "language": customer.language,
            "created_at": _dt(customer.created_at),
        },
        "portal_login": None,
        "contact_preferences": None,
        "extra_recipients": [
            {
                "name": r.name,
                "email": r.email,
                "phone": r.phone,
                "by_email": r.by_email,
                "by_sms": r.by_sms,
                "language": r.language,
                "created_at": _dt(r.created_at),
            }
            for r in ExtraRecipient.objects.filter(customer=customer)
        ],
        "supply_points": [],
        "messages": [],
        "portal_activity": {"notices_read": [], "activation_codes": []},
        "saved_payment_methods": [
            {"provider": p.provider, "created_at": _dt(p.created_at)}
            for p in PaymentCustomer.objects.filter(customer=customer)
        ],
    }
    if user is not None:
        data["portal_login"] = {
            "username": user.get_username(),
            "email": user.email,
            "active": user.is_active,
            "date_joined": _dt(user.date_joined),
            "last_login": _dt(user.last_login),
        }
        data["portal_activity"]["notices_read"] = [
            {"notice": n.notice, "read_at": _dt(n.read_at)}
            for n in NoticeRead.objects.filter(user=user).order_by("read_at")
        ]
    if pref is not None:
        data["contact_preferences"] = {
            "email": pref.email,
            "sms": pref.sms,
            "letter": pref.letter,
            "muted_alerts": list(pref.muted_kinds),
            "updated_at": _dt(pref.updated_at),
        }
    for sp in sps:
        data["supply_points"].append(_supply_point(sp))
        data["portal_activity"]["activation_codes"] += [
            {"ean": sp.ean, "issued_at": _dt(c.issued_at), "used_at": _dt(c.used_at)}
            for c in ActivationCode.objects.filter(supply_point=sp).order_by("issued_at")
        ]
    for m in Message.objects.filter(customer=customer).select_related("event").order_by("pk"):
        # A body that carried an activation code is not repeated: the code is a secret.
        carries_code = m.event.kind == EventKind.ACTIVATION_CODE_ISSUED and not m.secret_scrubbed
        data["messages"].append(
            {
                "created_at": _dt(m.created_at),
                "channel": m.channel,
                "recipient": m.recipient,
                "recipient_name": m.recipient_name,
                "subject": m.subject,
                "body": "" if carries_code else m.body,
                "status": m.status,
                "sent_at": _dt(m.sent_at),
            }
        )
    return data


def _supply_point(sp: SupplyPoint) -> dict:
    out: dict = {
        "ean": sp.ean,
        "energy": sp.energy,
        "dso": sp.dso.name,
        "tariff_category": sp.tariff_category,
        "protected_customer": sp.protected,
        "customer_reference": sp.customer_reference,
        "structured_communication": sp.structured_communication,
        "address": {
            "street": sp.street,
            "number": sp.number,
            "postcode": sp.postcode,
            "city": sp.city,
        },
        "suppliers": [
            {"supplier": a.supplier.name, "from": a.valid_from.isoformat()}
            for a in sp.supplier_history.select_related("supplier")
        ],
        "account": None,
        "statement": [],
        "topups": [
            {
                "day": t.day.isoformat(),
                "channel": t.channel,
                "amount_cents": t.amount_cents,
                "status": t.status,
                "payer": t.payer,
                "reversed_cents": t.reversed_cents,
                "credited_at": _dt(t.credited_at),
            }
            for t in Topup.objects.filter(supply_point=sp).order_by("credited_at", "pk")
        ],
        "daily_consumption": [],
    }
    account = PrepaymentAccount.objects.filter(supply_point=sp).first()
    if account is None:
        return out
    out["account"] = {
        "state": account.state,
        "balance_cents": account.balance_account.balance_cents,
        "advance_cents": account.advance_account.balance_cents,
        "activated_at": _dt(account.activated_at),
        "closed_at": _dt(account.closed_at),
        "low_credit_threshold_cents": account.low_credit_threshold_cents,
        "low_credit_days": account.low_credit_days,
    }
    out["statement"] = [
        {
            "at": _dt(e.transaction.at),
            "kind": e.transaction.kind,
            "day": e.transaction.day.isoformat() if e.transaction.day else None,
            "amount_cents": e.amount_cents,
        }
        for e in Entry.objects.filter(account_id=account.balance_account_id)
        .select_related("transaction")
        .order_by("transaction__at", "pk")
    ]
    out["daily_consumption"] = [
        {
            "day": d.day.isoformat(),
            "energy": d.kwh,
            "charge_cents": d.charge_cents,
            "recovery_cents": d.recovery_cents,
        }
        for d in DayCharge.objects.filter(account=account).order_by("day")
    ]
    return out


def export_json(customer: Customer) -> bytes:
    return json.dumps(
        export_customer(customer), cls=DjangoJSONEncoder, ensure_ascii=False, indent=2
    ).encode()


# --- Erasure: remove the person, keep the ledger ----------------------------------------------


@dataclass
class ErasurePlan:
    """What an erasure changes (the dry run shows it; the real run does it)."""

    customer_id: int
    closed_at: datetime | None
    eligible_from: datetime | None
    changes: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        return [f"{name}: {n}" for name, n in self.changes.items() if n]


def retention() -> timedelta:
    return timedelta(days=settings.PERSONAL_DATA_RETENTION_DAYS)


def check_erasable(customer: Customer, now: datetime | None = None) -> datetime:
    """The instant the customer's last account closed, or ErasureRefused: every account must be
    closed, and closed longer ago than the retention period."""
    now = now or clock.now()
    sps = list(SupplyPoint.objects.filter(customer=customer))
    if not sps:
        raise ErasureRefused(_("Ce client n'a aucun point de fourniture clôturé."))
    accounts = {
        a.supply_point_id: a for a in PrepaymentAccount.objects.filter(supply_point__in=sps)
    }
    closed: list[datetime] = []
    for sp in sps:
        account = accounts.get(sp.pk)
        if account is None or account.state != AccountState.CLOSED or account.closed_at is None:
            raise ErasureRefused(
                _("Le compte de l'EAN %(ean)s n'est pas clôturé : effacement refusé.")
                % {"ean": sp.ean}
            )
        closed.append(account.closed_at)
    last = max(closed)
    if last + retention() > now:
        raise ErasureRefused(
            _(
                "Le dernier compte a été clôturé le %(closed)s : les données doivent être "
                "conservées jusqu'au %(until)s."
            )
            % {
                "closed": last.strftime("%d/%m/%Y"),
                "until": (last + retention()).strftime("%d/%m/%Y"),
            }
        )
    return last


def _sp_ids(customer: Customer) -> list[int]:
    return list(SupplyPoint.objects.filter(customer=customer).values_list("pk", flat=True))


def plan_erasure(customer: Customer, now: datetime | None = None) -> ErasurePlan:
    """What an erasure of `customer` would change (raises ErasureRefused if it may not)."""
    closed = check_erasable(customer, now)
    sp_ids = _sp_ids(customer)
    topups = Topup.objects.filter(supply_point_id__in=sp_ids)
    return ErasurePlan(
        customer_id=customer.pk,
        closed_at=closed,
        eligible_from=closed + retention(),
        changes={
            "customer": 0 if customer.first_name == ERASED_NAME else 1,
            "portal_login": 1 if customer.user_id else 0,
            "addresses": SupplyPoint.objects.filter(pk__in=sp_ids)
            .exclude(street="", number="", postcode="", city="")
            .count(),
            "contact_preferences": ContactPreference.objects.filter(customer=customer).count(),
            "extra_recipients": ExtraRecipient.objects.filter(customer=customer).count(),
            "messages": Message.objects.filter(customer=customer).exclude(body="").count(),
            "topup_payers": topups.exclude(payer="").count(),
            "bank_lines": BankLine.objects.filter(topup__in=topups)
            .exclude(debtor_name="", debtor_iban="")
            .count(),
            "saved_payment_methods": PaymentCustomer.objects.filter(customer=customer).count(),
            "activation_codes": ActivationCode.objects.filter(supply_point_id__in=sp_ids).count(),
        },
    )


@transaction.atomic
def erase(customer: Customer, now: datetime | None = None) -> ErasurePlan:
    """Erase the person behind `customer`: names, contact data, addresses, portal login, message
    recipients and bodies, payer names and IBANs. The ledger, the EANs, the references, the
    amounts and the settlement lines stay (accounting must still add up). Rows are updated with
    querysets so the audit trail does not copy the erased values into new entries; the old
    audit entries of the person's rows lose their field values (who, when and why stay)."""
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    plan = plan_erasure(customer, now)
    sp_ids = _sp_ids(customer)
    user_id = customer.user_id
    recipients = list(ExtraRecipient.objects.filter(customer=customer).values_list("pk", flat=True))
    pref_ids = list(
        ContactPreference.objects.filter(customer=customer).values_list("pk", flat=True)
    )

    Customer.objects.filter(pk=customer.pk).update(
        first_name=ERASED_NAME, last_name=f"#{customer.pk}", email="", phone="", user=None
    )
    SupplyPoint.objects.filter(pk__in=sp_ids).update(street="", number="", postcode="", city="")
    for m in Message.objects.filter(customer=customer).exclude(letter_pdf=""):
        (Path(settings.MEDIA_ROOT) / m.letter_pdf).unlink(missing_ok=True)
    Message.objects.filter(customer=customer).update(
        recipient="erased",
        recipient_name="",
        subject="",
        body="",
        error="",
        letter_pdf="",
        extra_recipient=None,
        secret_scrubbed=True,
    )
    ContactPreference.objects.filter(customer=customer).delete()
    ExtraRecipient.objects.filter(customer=customer).delete()
    topups = Topup.objects.filter(supply_point_id__in=sp_ids)
    for line in BankLine.objects.filter(topup__in=topups).exclude(debtor_name="", debtor_iban=""):
        BankLine.objects.filter(pk=line.pk).update(
            debtor_name="", debtor_iban=mask_iban(line.debtor_iban)
        )
    topups.update(payer="")
    OnlinePayment.objects.filter(account__supply_point_id__in=sp_ids).update(
        provider_customer_id=""
    )
    PaymentCustomer.objects.filter(customer=customer).delete()
    ActivationCode.objects.filter(supply_point_id__in=sp_ids).update(used_by=None)
    if user_id is not None:
        # The portal login goes (notices read cascade); staff never log in through a customer.
        get_user_model().objects.filter(pk=user_id, is_staff=False).delete()
    _scrub_audit_trail(customer.pk, sp_ids, recipients, pref_ids)
    # Ids and counts only: the log must not carry what was just erased.
    log.info("personal data of customer %s erased: %s", customer.pk, ", ".join(plan.lines()))
    return plan


def _scrub_audit_trail(customer_id, sp_ids, recipient_ids, pref_ids) -> None:
    from auditlog.models import LogEntry

    from solde.backoffice.models import ActionKind, OperatorAction

    for model, ids in (
        (Customer, [customer_id]),
        (SupplyPoint, sp_ids),
        (ExtraRecipient, recipient_ids),
        (ContactPreference, pref_ids),
    ):
        ct = ContentType.objects.get_for_model(model)
        LogEntry.objects.filter(content_type=ct, object_pk__in=[str(i) for i in ids]).update(
            changes={}, changes_text="", object_repr=f"{model._meta.model_name} (erased)"
        )
    # The console's contact corrections kept the before/after values.
    OperatorAction.objects.filter(customer_id=customer_id, kind=ActionKind.CONTACT).update(
        details={}
    )
