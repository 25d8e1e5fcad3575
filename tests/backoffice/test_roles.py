"""Roles and permissions: who may open which console page and carry out which action."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse

from solde.backoffice import roles
from solde.backoffice.models import AdjustmentLimit
from solde.notifications.models import Event, Message
from solde.prepayment.models import HeldRun
from solde.topups.models import BankLine, BankStatement, SuspenseItem

pytestmark = pytest.mark.django_db


def test_the_migration_creates_the_four_roles_with_their_limits():
    for name, codenames in roles.ROLES.items():
        group = Group.objects.get(name=name)
        assert set(group.permissions.values_list("codename", flat=True)) == set(codenames)
    limits = dict(
        AdjustmentLimit.objects.filter(dso=None).values_list("group__name", "limit_cents")
    )
    assert limits == {roles.AGENT: 5000, roles.BACKOFFICE: 50000, roles.SUPERVISOR: 50000}


def test_anonymous_and_customers_are_sent_to_the_console_login(client):
    r = client.get("/console/")
    assert r.status_code == 302 and r["Location"].startswith("/console/login/?next=/console/")
    customer = User.objects.create_user("client@example.org", "client@example.org", "Pw-12345678")
    client.force_login(customer)
    r = client.get("/console/search/?q=dupont")
    assert r.status_code == 302 and r["Location"].startswith("/console/login/")


def test_a_customer_cannot_log_in_to_the_console(client):
    User.objects.create_user("client@example.org", "client@example.org", "Pw-12345678")
    r = client.post(
        "/console/login/", {"username": "client@example.org", "password": "Pw-12345678"}
    )
    assert r.status_code == 200
    assert "console" in r.content.decode() and "_auth_user_id" not in client.session


def test_staff_without_a_role_gets_a_403_page(console):
    c = console("none")
    r = c.get("/console/")
    assert r.status_code == 403
    assert "Accès refusé" in r.content.decode()


@pytest.fixture
def targets(make_account):
    acc = make_account(2000)
    sp = acc.supply_point
    event = Event.objects.create(
        kind="low_credit", key="low:1", supply_point=sp, occurred_at=sp.created_at
    )
    msg = Message.objects.create(
        event=event,
        customer=sp.customer,
        channel="email",
        recipient="client@example.org",
        language="fr",
        subject="Crédit bas",
        body="…",
        status="failed",
        created_at=sp.created_at,
    )
    stmt = BankStatement.objects.create(statement_id="S1", imported_at=sp.created_at)
    line = BankLine.objects.create(key="L1", statement=stmt, amount_cents=2000)
    item = SuspenseItem.objects.create(
        line=line, amount_cents=2000, reason="no OGM", created_at=sp.created_at
    )
    run = HeldRun.objects.create(
        dso_id="RESA", created_at=sp.created_at, trigger="window", count=22, active_accounts=25
    )
    return {"sp": sp, "customer": sp.customer, "msg": msg, "item": item, "run": run}


# (url name, what it needs, the roles allowed)
ACTIONS = [
    ("console:adjust", "sp", {"agent", "backoffice", "supervisor"}),
    ("console:reissue_code", "sp", {"agent", "backoffice", "supervisor"}),
    ("console:order", "sp", {"agent", "backoffice", "supervisor"}),
    ("console:pause", "sp", {"backoffice", "supervisor"}),
    ("console:resend", "msg", {"agent", "backoffice", "supervisor"}),
    ("console:contact", "customer", {"agent", "backoffice", "supervisor"}),
    ("console:match_suspense", "item", {"backoffice", "supervisor"}),
    ("console:held_run", "run", {"supervisor"}),
]
PAGES = [
    ("console:home", None, {"agent", "backoffice", "supervisor", "auditor"}),
    ("console:search", None, {"agent", "backoffice", "supervisor", "auditor"}),
    ("console:customer", "customer", {"agent", "backoffice", "supervisor", "auditor"}),
    ("console:dashboard", None, {"backoffice", "supervisor", "auditor"}),
]


@pytest.mark.parametrize("role", ["agent", "backoffice", "supervisor", "auditor"])
def test_every_page_and_action_checks_the_role(console, targets, role):
    c = console(role)
    for name, needs, allowed in PAGES + ACTIONS:
        args = [targets[needs].pk] if needs else []
        url = reverse(name, args=args)
        got = c.get(url).status_code
        assert got == (200 if role in allowed else 403), (role, name, got)
        if name in dict((a[0], a) for a in ACTIONS) and role not in allowed:
            # A forged POST is refused the same way and writes nothing.
            assert c.post(url, {"reason": "forged", "amount": "1"}).status_code == 403


def test_the_menu_shows_only_what_the_role_may_open(console):
    agent = console("agent").get("/console/").content.decode()
    assert "/console/dashboard/" not in agent
    auditor = console("auditor", "audit1").get("/console/").content.decode()
    assert "/console/dashboard/" in auditor


def test_a_change_in_the_django_admin_is_audited_with_its_author(db, client):
    from auditlog.models import LogEntry

    from solde.registry.models import Supplier

    admin = User.objects.create_superuser("boss", "boss@dso.example", "Admin-2026!")
    client.force_login(admin)
    supplier = Supplier.objects.create(code="ELEKTRA", name="Elektra")
    r = client.post(
        f"/admin/registry/supplier/{supplier.pk}/change/",
        {"code": "ELEKTRA", "name": "Elektra Wallonie"},
    )
    assert r.status_code == 302
    entry = LogEntry.objects.get_for_object(supplier).latest("timestamp")
    assert entry.actor == admin
    assert entry.changes_dict["name"] == ["Elektra", "Elektra Wallonie"]


def test_only_approvers_open_a_request(make_account, operator, console):
    from solde.backoffice import services

    acc = make_account(2000)
    req = services.adjust(operator("agent", "asker"), acc, 9000, "adjustment", "Erreur")
    url = f"/console/requests/{req.pk}/"
    assert console("agent").get(url).status_code == 403
    assert console("auditor", "aud").get(url).status_code == 403
    bo = console("backoffice", "bo")
    assert bo.get(url).status_code == 200
    r = bo.post(url, {"decision": "approve", "reason": ""})
    assert r.status_code == 400  # the reason is mandatory: nothing done
    req.refresh_from_db()
    assert req.status == "pending"
    r = bo.post(url, {"decision": "approve", "reason": "Vu"})
    assert r.status_code == 302
    req.refresh_from_db()
    assert req.status == "approved"
