"""credit_topup: once per channel transaction id, the hook, the event, the supplier owed."""

from __future__ import annotations

from datetime import date

import pytest

from solde.ledger.models import Transaction
from solde.ledger.services import verify
from solde.notifications.models import Event
from solde.prepayment.signals import balance_changed
from solde.registry.models import Supplier, SupplierAssignment
from solde.topups import services
from solde.topups.models import Topup, TopupReversal
from tests.topups.conftest import balance

pytestmark = pytest.mark.django_db


def test_credit_is_immediate_once_and_tells_credit_control(active_sp):
    sp = active_sp()
    calls = []

    def listener(sender, account_ids, reason, **kw):
        calls.append((account_ids, reason))

    balance_changed.connect(listener)
    try:
        for _ in range(3):
            topup, created = services.credit_topup(
                sp.account, 2000, channel="retail", external_id="T-1"
            )
    finally:
        balance_changed.disconnect(listener)
    assert balance(sp) == 1000 + 2000
    assert Topup.objects.count() == 1
    assert topup.balance_after_cents == 3000
    assert calls == [([sp.account.pk], "topup")]
    event = Event.objects.get(kind="topup_received")
    assert event.supply_point_id == sp.pk and event.payload["amount_cents"] == 2000
    assert Transaction.objects.filter(kind="topup").count() == 1
    assert verify().ok


def test_supplier_owed_is_the_one_on_the_topup_date(active_sp, frozen):
    sp = active_sp()
    new = Supplier.objects.create(code="SUPPLIER-B", name="B")
    SupplierAssignment.objects.create(supply_point=sp, supplier=new, valid_from=date(2026, 11, 29))
    before, _ = services.credit_topup(sp.account, 1000, channel="retail", external_id="a")
    from datetime import timedelta

    from solde import clock

    clock.advance(timedelta(days=1))
    after, _ = services.credit_topup(sp.account, 1000, channel="retail", external_id="b")
    assert before.supplier.code == "SUPPLIER-A"
    assert after.supplier.code == "SUPPLIER-B"


@pytest.mark.parametrize("cents", [499, 25001, 0, -500])
def test_amounts_outside_the_channel_limits_write_nothing(active_sp, cents):
    sp = active_sp()
    with pytest.raises(services.rules.AmountRefused):
        services.credit_topup(sp.account, cents, channel="online", external_id="x")
    assert not Topup.objects.exists()
    assert balance(sp) == 1000


def test_transfers_take_any_positive_amount(active_sp):
    sp = active_sp()
    services.credit_topup(sp.account, 123456, channel="transfer", external_id="big")
    services.credit_topup(sp.account, 1, channel="transfer", external_id="small")
    assert balance(sp) == 1000 + 123457


def test_closed_or_pending_account_is_refused(active_sp, make_supply_point):
    pending = make_supply_point()
    with pytest.raises(services.AccountNotOpen):
        services.credit_topup(pending.account, 2000, channel="retail", external_id="p")
    closed = active_sp()
    closed.account.state = "closed"
    closed.account.save()
    with pytest.raises(services.AccountNotOpen):
        services.credit_topup(closed.account, 2000, channel="retail", external_id="c")
    assert not Topup.objects.exists()


def test_reversal_posts_a_reversal_once_and_may_go_negative(active_sp):
    sp = active_sp()
    topup, _ = services.credit_topup(sp.account, 2000, channel="online", external_id="tr_1")
    for _ in range(2):
        services.reverse_topup(topup, None, "chargeback", key="cb:tr_1")
    topup.refresh_from_db()
    assert topup.status == "reversed"
    assert TopupReversal.objects.count() == 1
    assert Transaction.objects.filter(kind="reversal").count() == 1
    assert balance(sp) == 1000
    with pytest.raises(services.Conflict):
        services.reverse_topup(topup, 100, "refund", key="again")
    assert verify().ok


def test_manual_adjustment_needs_a_reason_and_is_audited(active_sp, django_user_model):
    sp = active_sp()
    op = django_user_model.objects.create_user("operator", password="x-long-password")
    with pytest.raises(services.InvalidInput):
        services.manual_adjustment(sp.account, 500, "  ", op, "adjustment")
    adj = services.manual_adjustment(sp.account, -300, "Double charge on 27/11", op, "adjustment")
    assert adj.operator == op and adj.transaction.kind == "adjustment"
    assert adj.transaction.details == {"operator": "operator", "reason": "Double charge on 27/11"}
    got = services.manual_adjustment(sp.account, 1500, "Cash at the counter", op, "topup")
    assert got.topup.channel == "manual"
    assert balance(sp) == 1000 - 300 + 1500
    with pytest.raises(services.InvalidInput):
        services.manual_adjustment(sp.account, -100, "cash", op, "topup")
