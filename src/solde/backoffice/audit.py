"""The audit trail of operator changes (django-auditlog).

Every model an operator changes — in the console or in the Django admin — is registered here;
auditlog's middleware names the actor of each request, and `operator_reason` adds the action's
reason to every entry written inside it. Rows machines write in bulk at every reading or
top-up (orders, top-ups, ledger rows) are not registered: an operator's own order, top-up or
adjustment is recorded by its `OperatorAction` (who, when, what, why) and its `ManualAdjustment`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from auditlog.context import auditlog_value, set_extra_data
from auditlog.registry import auditlog


def register_models() -> None:
    from solde.backoffice.models import (
        AdjustmentLimit,
        FourEyesRequest,
        OperatorAction,
        RecoveryCodes,
    )
    from solde.notifications.models import ContactPreference, ExtraRecipient
    from solde.prepayment.models import HeldRun, PrepaymentAccount
    from solde.registry.models import (
        Customer,
        Dso,
        GasConversionFactor,
        Meter,
        Supplier,
        SupplierAssignment,
        SupplyPoint,
        Tariff,
    )
    from solde.topups.models import ManualAdjustment, Partner, SuspenseItem

    for model in (
        Customer,
        SupplyPoint,
        Meter,
        Dso,
        Supplier,
        SupplierAssignment,
        Tariff,
        GasConversionFactor,
        ContactPreference,
        ExtraRecipient,
        HeldRun,
        ManualAdjustment,
        SuspenseItem,
        Partner,
        OperatorAction,
        FourEyesRequest,
        AdjustmentLimit,
    ):
        if not auditlog.contains(model):
            auditlog.register(model)
    if not auditlog.contains(RecoveryCodes):
        # A staff member's recovery codes appear and go (an administrator deleting them after a
        # lost phone); their use is an OperatorAction, their throttling counters are noise.
        auditlog.register(RecoveryCodes, include_fields=["user", "name", "confirmed"])
    if not auditlog.contains(PrepaymentAccount):
        # The account's operator-set fields only: its credit state moves at every top-up and
        # close (machine work, recorded in the ledger and the credit decisions).
        auditlog.register(
            PrepaymentAccount,
            include_fields=[
                "state",
                "interruptions_paused_until",
                "low_credit_threshold_cents",
                "low_credit_days",
                "closed_at",
            ],
        )


@contextlib.contextmanager
def operator_reason(user, kind: str, reason: str) -> Iterator[None]:
    """Inside: every audit entry carries the operator and the reason of the action."""
    previous = auditlog_value.get(None)
    data = {"actor": user, "additional_data": {"action": kind, "reason": reason}}
    if previous:
        data["remote_addr"] = previous.get("remote_addr")
    try:
        with set_extra_data(context_data=data):
            yield
    finally:
        # set_extra_data leaves its own context behind: give the request's back.
        if previous is not None:
            auditlog_value.set(previous)
