"""The console's actions: each needs a reason, is recorded (who, when, what, why) in the
operator actions and the audit trail, and does its work through the owning app's service."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from auditlog.models import LogEntry
from django.core.exceptions import PermissionDenied

from solde import clock
from solde.backoffice import services
from solde.backoffice.models import FourEyesRequest, OperatorAction
from solde.ledger.services import verify
from solde.notifications.models import Event, Message
from solde.orders.models import Order
from solde.portal import services as portal
from solde.portal.models import ActivationCode
from solde.prepayment import credit_control
from solde.prepayment.models import CreditDecision, PrepaymentAccount
from solde.prepayment.services import balance_view
from solde.registry.models import Customer
from solde.topups.models import BankLine, BankStatement, ManualAdjustment, SuspenseItem
from tests.codes import issued_code

pytestmark = pytest.mark.django_db


def balance(acc) -> int:
    acc = PrepaymentAccount.objects.get(pk=acc.pk)
    return balance_view(acc).balance_cents


def test_an_adjustment_within_the_limit_is_posted_with_its_reason(make_account, operator):
    acc = make_account(2000)
    agent = operator("agent")
    adj = services.adjust(agent, acc, 4000, "adjustment", "Geste commercial, panne du 12/11")
    assert isinstance(adj, ManualAdjustment) and adj.operator == agent
    assert balance(acc) == 6000
    action = OperatorAction.objects.get(kind="adjustment")
    assert (action.user, action.reason, action.supply_point_id) == (
        agent,
        "Geste commercial, panne du 12/11",
        acc.supply_point_id,
    )
    # The audit trail names the operator and carries the reason.
    entry = LogEntry.objects.get_for_object(adj).get()
    assert entry.actor == agent
    assert entry.additional_data["reason"] == "Geste commercial, panne du 12/11"
    assert verify().ok


def test_a_debit_above_the_agents_limit_waits_for_a_second_person(make_account, operator):
    acc = make_account(2000)
    agent, agent2, backoffice = operator("agent"), operator("agent"), operator("backoffice")
    req = services.adjust(agent, acc, -5001, "adjustment", "Double recharge à annuler")
    assert isinstance(req, FourEyesRequest) and req.status == "pending"
    assert balance(acc) == 2000 and not ManualAdjustment.objects.exists()
    # An agent cannot approve at all.
    with pytest.raises(PermissionDenied):
        services.decide(agent2, req, True, "Vu")
    services.decide(backoffice, req, True, "Vérifié sur le relevé bancaire")
    req.refresh_from_db()
    assert (req.status, req.decided_by) == ("approved", backoffice)
    assert balance(acc) == 2000 - 5001
    adj = ManualAdjustment.objects.get()
    assert adj.operator == agent and adj.amount_cents == -5001
    assert verify().ok


def test_nobody_approves_their_own_request(make_account, operator):
    acc = make_account(2000)
    bo = operator("backoffice")
    req = services.adjust(bo, acc, 60000, "adjustment", "Remboursement d'une erreur de tarif")
    with pytest.raises(services.ActionError, match="autre personne"):
        services.decide(bo, req, True, "moi-même")
    req.refresh_from_db()
    assert req.status == "pending" and balance(acc) == 2000


def test_a_refused_request_posts_nothing(make_account, operator):
    acc = make_account(2000)
    req = services.adjust(operator("agent"), acc, 9000, "topup", "Paiement au guichet")
    services.decide(operator("supervisor"), req, False, "Pas de reçu")
    req.refresh_from_db()
    assert req.status == "refused" and balance(acc) == 2000
    with pytest.raises(services.ActionError):
        services.decide(operator("supervisor"), req, True, "trop tard")


@pytest.mark.parametrize("reason", ["", "   "])
def test_every_action_needs_a_reason_and_writes_nothing_without(make_account, operator, reason):
    acc = make_account(2000)
    sup = operator("supervisor")
    sp = acc.supply_point
    calls = [
        lambda: services.adjust(sup, acc, 100, "adjustment", reason),
        lambda: services.reissue_code(sup, sp, reason),
        lambda: services.pause_interruptions(sup, acc, clock.local_date(clock.now()), reason),
        lambda: services.order_meter(sup, sp, "display_balance", reason),
        lambda: services.correct_contact(sup, sp.customer, {"phone": "+3242000000"}, reason),
    ]
    for call in calls:
        with pytest.raises(services.ActionError, match="raison"):
            call()
    assert not OperatorAction.objects.exists() and not ManualAdjustment.objects.exists()


def test_reissuing_a_code_stops_the_old_one(make_account, operator):
    acc = make_account(2000)
    sp = acc.supply_point
    old = issued_code(sp)
    assert portal.find_code(old).supply_point_id == sp.pk
    where = services.reissue_code(operator("agent"), sp, "Courrier perdu")
    assert where == "email"  # the customer has an e-mail address
    with pytest.raises(portal.PortalError):
        portal.find_code(old)
    new = issued_code(sp)
    assert new != old
    assert portal.find_code(new).supply_point_id == sp.pk
    assert ActivationCode.objects.filter(supply_point=sp).count() == 2
    assert OperatorAction.objects.get(kind="reissue_code").details["revoked"] == 1


def test_a_paused_account_is_not_interrupted_until_the_day_has_passed(make_account, operator, at):
    with clock.freeze(at("2026-12-05 12:00")):  # a Saturday
        acc = make_account(-1300)
        cancelled = services.pause_interruptions(
            operator("backoffice"), acc, date(2026, 12, 8), "Appareil médical, attestation reçue"
        )
    assert cancelled == 0
    cuts = Order.objects.filter(kind__in=("disconnect", "limit_power"))
    with clock.freeze(at("2026-12-08 10:00")):  # Tuesday, in a window, still paused
        credit_control.evaluate([acc.pk], "window")
    assert not cuts.exists()
    decision = CreditDecision.objects.filter(account=acc).latest("at")
    assert (decision.decision, decision.rule) == (
        "no_interruption",
        "§7: interruptions paused by an operator",
    )
    with clock.freeze(at("2026-12-09 08:00")):  # the pause is over
        credit_control.evaluate([acc.pk], "window")
    assert cuts.count() == 1


def test_pausing_cancels_a_pending_interruption_order(make_account, operator, at):
    with clock.freeze(at("2026-12-07 09:00")):  # Monday in a window
        acc = make_account(-1300)
        credit_control.evaluate([acc.pk], "window")
        order = Order.objects.get(kind="disconnect")
        assert order.pending
        services.pause_interruptions(
            operator("supervisor"), acc, date(2026, 12, 31), "Dossier CPAS en cours"
        )
    order.refresh_from_db()
    assert order.status == "cancelled"


def test_a_pause_in_the_past_is_refused(make_account, operator):
    acc = make_account(2000)
    yesterday = clock.local_date(clock.now()) - timedelta(days=1)
    with pytest.raises(services.ActionError):
        services.pause_interruptions(operator("backoffice"), acc, yesterday, "x")
    acc.refresh_from_db()
    assert acc.interruptions_paused_until is None


def test_ordering_a_reconnection_and_a_display(make_account, operator):
    acc = make_account(500, supply="disconnected")
    agent = operator("agent")
    o = services.order_meter(agent, acc.supply_point, "reconnect", "Client au téléphone")
    assert (o.kind, o.pending) == ("reconnect", True)
    d = services.order_meter(agent, acc.supply_point, "display_balance", "Affichage figé")
    assert d.kind == "display_balance" and d.params
    limited = make_account(500, supply="limited")
    assert (
        services.order_meter(agent, limited.supply_point, "reconnect", "Limiteur").kind
        == "remove_limit"
    )


def test_a_reconnection_of_an_exhausted_account_is_refused(make_account, operator):
    acc = make_account(-1300, supply="disconnected")
    with pytest.raises(services.ActionError, match="épuisé"):
        services.order_meter(operator("agent"), acc.supply_point, "reconnect", "Client insiste")
    assert not Order.objects.filter(kind="reconnect").exists()


def test_resending_a_failed_message(make_account, operator):
    acc = make_account(2000)
    sp = acc.supply_point
    event = Event.objects.create(
        kind="low_credit", key="k1", supply_point=sp, occurred_at=clock.now()
    )
    m = Message.objects.create(
        event=event,
        customer=sp.customer,
        channel="email",
        recipient="old@example.org",
        language="fr",
        subject="Crédit bas",
        body="…",
        status="failed",
        attempts=5,
        error="550 mailbox unavailable",
        created_at=clock.now(),
    )
    services.resend_message(operator("agent"), m, "Adresse corrigée")
    m.refresh_from_db()
    assert (m.status, m.attempts, m.error) == ("pending", 0, "")
    m.status, m.secret_scrubbed = "sent", True
    m.save()
    with pytest.raises(services.ActionError, match="nouveau code"):
        services.resend_message(operator("agent"), m, "Le client n'a rien reçu")


def test_correcting_contact_details_is_audited_field_by_field(make_account, operator):
    acc = make_account(2000)
    customer = acc.supply_point.customer
    agent = operator("agent")
    changed = services.correct_contact(
        agent, customer, {"email": "new@example.org", "phone": "+32470999999"}, "Appel du client"
    )
    assert changed == ["email", "phone"]
    customer.refresh_from_db()
    assert customer.email == "new@example.org"
    entry = LogEntry.objects.get_for_object(customer).latest("timestamp")
    assert entry.actor == agent and entry.additional_data["reason"] == "Appel du client"
    assert entry.changes_dict["email"] == ["client@example.org", "new@example.org"]
    with pytest.raises(services.ActionError):
        services.correct_contact(agent, customer, {"email": "new@example.org"}, "rien")


def test_moving_a_suspense_line_to_an_account(make_account, operator):
    acc = make_account(2000)
    now = clock.now()
    stmt = BankStatement.objects.create(statement_id="S1", imported_at=now)
    line = BankLine.objects.create(key="L1", statement=stmt, amount_cents=3000, debtor_name="X")
    item = SuspenseItem.objects.create(
        line=line, amount_cents=3000, reason="no OGM", created_at=now
    )
    topup = services.match_suspense(
        operator("backoffice"), item, acc.supply_point.customer_reference, "Nom et montant"
    )
    assert topup.amount_cents == 3000 and balance(acc) == 5000
    with pytest.raises(services.ActionError):
        services.match_suspense(operator("backoffice"), item, acc.supply_point.ean, "encore")


def test_each_action_checks_the_permission_itself(make_account, operator):
    acc = make_account(2000)
    auditor = operator("auditor")
    with pytest.raises(PermissionDenied):
        services.adjust(auditor, acc, 100, "adjustment", "x")
    with pytest.raises(PermissionDenied):
        services.pause_interruptions(operator("agent"), acc, None, "x")
    with pytest.raises(PermissionDenied):
        services.correct_contact(auditor, acc.supply_point.customer, {"phone": "1"}, "x")
    assert Customer.objects.get(pk=acc.supply_point.customer_id).phone == "+32470123456"


def test_a_dsos_own_limit_wins_over_the_roles_default(make_account, operator):
    from django.contrib.auth.models import Group

    from solde.backoffice import roles
    from solde.backoffice.models import AdjustmentLimit

    AdjustmentLimit.objects.create(
        group=Group.objects.get(name=roles.AGENT), dso_id="RESA", limit_cents=1000
    )
    agent = operator("agent")
    assert services.adjustment_limit(agent, "RESA") == 1000
    assert services.adjustment_limit(agent, "ORES") == 5000
    acc = make_account(2000)  # at RESA
    assert isinstance(services.adjust(agent, acc, 1500, "adjustment", "x"), FourEyesRequest)
    assert isinstance(services.adjust(agent, acc, 1000, "adjustment", "x"), ManualAdjustment)


def test_an_operator_without_a_limit_always_needs_a_second_person(make_account, operator):
    from django.contrib.auth.models import Group, Permission

    g = Group.objects.create(name="Sans limite")
    g.permissions.add(Permission.objects.get(codename="adjust_balance"))
    user = operator("none", "nolimit")
    user.groups.add(g)
    assert services.adjustment_limit(user, "RESA") is None
    acc = make_account(2000)
    assert isinstance(services.adjust(user, acc, 1, "adjustment", "x"), FourEyesRequest)
