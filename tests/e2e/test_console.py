"""The operator console in a real browser (Debian chromium), checked by axe-core on every page:
an agent finds a customer by the last 13 digits, reads the timeline and reissues a code with
the keyboard; a supervisor releases a held mass cut that an agent could not (a second
supervisor approves); a back-office adjustment above the limit waits for a second approver."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from solde import clock
from tests.codes import issued_code
from tests.e2e.axe import assert_no_axe_violations

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "Console-2026!"
MONDAY_9 = datetime(2026, 12, 7, 9, 0, tzinfo=clock.BRUSSELS)


@pytest.fixture
def roles_ready(db):
    """The flushed database lost the data migration's groups: put them back."""
    from django.contrib.auth.models import Group, Permission

    from solde.backoffice.models import AdjustmentLimit
    from solde.backoffice.roles import ensure_roles

    ensure_roles(Group, Permission, AdjustmentLimit)


@pytest.fixture
def staff(roles_ready):
    from django.contrib.auth.models import Group, User

    from solde.backoffice import roles

    names = {
        "agent": roles.AGENT,
        "backoffice": roles.BACKOFFICE,
        "supervisor": roles.SUPERVISOR,
        "auditor": roles.AUDITOR,
    }

    def make(username: str, role: str) -> User:
        u = User.objects.create_user(username, f"{username}@dso.example", PASSWORD, is_staff=True)
        u.groups.add(Group.objects.get(name=names[role]))
        return u

    return make


@pytest.fixture
def customer_account(make_supply_point):
    from django.db import transaction

    from solde.prepayment.models import PrepaymentAccount
    from solde.prepayment.services import activate
    from solde.topups.services import credit_topup

    sp = make_supply_point(email="maurice.dupont@example.org")
    with transaction.atomic():
        activate({sp.pk: clock.now() - timedelta(days=3)})
    acc = PrepaymentAccount.objects.get(supply_point=sp)
    credit_topup(acc, 2500, channel="retail", external_id="shop-e2e-1")
    return acc


@pytest.fixture
def open_page(browser, live_server):
    contexts = []

    def make():
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="fr-BE")
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15000)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.errors = errors
        return page

    yield make
    for c in contexts:
        c.close()


def login(page, base: str, username: str) -> None:
    page.goto(base + "/console/")
    assert "/console/login/" in page.url
    assert_no_axe_violations(page)
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(base + "/console/")


def by_keyboard_submit(page, reason: str) -> None:
    """Type the reason and submit the action form without the mouse."""
    page.focus("#id_reason")
    page.keyboard.type(reason)
    page.keyboard.press("Tab")  # → Valider
    assert page.evaluate("() => document.activeElement.textContent.trim()") == "Valider"
    with page.expect_navigation():
        page.keyboard.press("Enter")


def test_an_agent_finds_a_customer_by_13_digits_reads_the_timeline_reissues_a_code(
    open_page, live_server, staff, customer_account
):
    from solde.portal import services as portal

    base = live_server.url
    staff("agent1", "agent")
    sp = customer_account.supply_point
    old_code = issued_code(sp)
    page = open_page()
    login(page, base, "agent1")
    assert_no_axe_violations(page)

    # Results as you type: no submit, htmx swaps them in.
    page.focus("#q")
    page.keyboard.type(f"{sp.customer_reference[:6]} {sp.customer_reference[6:]}")
    result = page.locator("#results a", has_text="Dupont")
    result.wait_for()
    assert sp.ean in page.locator("#results").inner_text()
    assert_no_axe_violations(page)
    result.focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert f"/console/customers/{sp.customer_id}/" in page.url
    assert_no_axe_violations(page)

    # The timeline: the top-up and the activation code are there; filter to top-ups.
    timeline = page.locator("#timeline-entries")
    assert "Recharge Commerce" in timeline.inner_text()
    page.check("#cat-topup")
    page.wait_for_function(
        "() => !document.querySelector('#timeline-entries').innerText.includes('activation')"
    )
    assert "Recharge Commerce" in timeline.inner_text()

    # Reissue the code, keyboard only.
    link = page.get_by_role("link", name="Nouveau code d'activation")
    link.focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert_no_axe_violations(page)
    # Without a reason nothing happens and the form says why.
    page.get_by_role("button", name="Valider").click()
    assert page.locator(".error").count() >= 1
    assert_no_axe_violations(page)
    by_keyboard_submit(page, "Le client a perdu la lettre")
    assert "Nouveau code d'activation émis" in page.locator(".messages").inner_text()
    with pytest.raises(portal.PortalError):
        portal.find_code(old_code)
    assert "Le client a perdu la lettre" in page.locator("#timeline-entries").inner_text()

    # Every queue page and the 403 of the dashboard pass axe too.
    from solde.backoffice.queues import QUEUES

    for q in QUEUES:
        page.goto(f"{base}/console/queues/{q.slug}/")
        assert_no_axe_violations(page)
    page.goto(base + "/console/dashboard/")
    assert "Accès refusé" in page.content()
    assert_no_axe_violations(page)
    assert page.errors == []


def test_a_supervisor_releases_a_held_mass_cut_that_an_agent_could_not(
    open_page, live_server, staff, make_supply_point
):
    from django.db import transaction

    from solde.orders.models import Order
    from solde.prepayment import credit_control
    from solde.prepayment.models import HeldRun, PrepaymentAccount
    from solde.prepayment.services import activate
    from tests.creditcontrol.conftest import move_balance

    base = live_server.url
    staff("agent1", "agent")
    staff("sup1", "supervisor")
    staff("sup2", "supervisor")
    with clock.freeze(MONDAY_9 - timedelta(days=2)):
        sps = [make_supply_point() for _ in range(22)]
        with transaction.atomic():
            activate({sp.pk: clock.now() for sp in sps})
        accounts = list(PrepaymentAccount.objects.filter(supply_point__in=sps))
        with transaction.atomic():
            for acc in accounts:
                move_balance(acc, -2300)
    with clock.freeze(MONDAY_9):
        with transaction.atomic():
            credit_control.evaluate([a.pk for a in accounts], "window")
        run = HeldRun.objects.get()
        cuts = Order.objects.filter(kind__in=("disconnect", "limit_power"))
        assert cuts.count() == 0

        agent = open_page()
        login(agent, base, "agent1")
        agent.get_by_role("link", name="Coupures massives retenues").click()
        assert "réservé aux superviseurs" in agent.content()
        assert_no_axe_violations(agent)
        agent.goto(f"{base}/console/held-runs/{run.pk}/")
        assert "Accès refusé" in agent.content()

        first = open_page()
        login(first, base, "sup1")
        first.goto(base + "/console/queues/held-runs/")
        first.get_by_role("link", name="Confirmer ou annuler").focus()
        with first.expect_navigation():
            first.keyboard.press("Enter")
        assert_no_axe_violations(first)
        first.focus("#id_decision_0")
        first.keyboard.press("Space")
        by_keyboard_submit(first, "Liste contrôlée, aucune erreur de tarif")
        assert cuts.count() == 0  # a second supervisor must approve

        second = open_page()
        login(second, base, "sup2")
        second.goto(base + "/console/queues/approvals/")
        assert_no_axe_violations(second)
        second.get_by_role("link", name="Approuver ou refuser").click()
        second.check("#id_decision_0")
        by_keyboard_submit(second, "Contrôlé à mon tour")
        assert "22 interruptions envoyées" in second.locator(".messages").inner_text()
    run.refresh_from_db()
    assert run.status == "released" and cuts.count() == 22


def test_a_backoffice_adjustment_above_the_limit_waits_for_a_second_approver(
    open_page, live_server, staff, customer_account
):
    from solde.backoffice.models import FourEyesRequest
    from solde.prepayment.models import PrepaymentAccount
    from solde.prepayment.services import balance_view

    base = live_server.url
    staff("bo1", "backoffice")
    staff("bo2", "backoffice")
    sp = customer_account.supply_point
    before = balance_view(customer_account).balance_cents

    page = open_page()
    login(page, base, "bo1")
    page.goto(f"{base}/console/supply-points/{sp.pk}/adjust/")
    assert_no_axe_violations(page)
    page.check("#id_direction_0")
    page.fill("#id_amount", "600,00")
    page.select_option("#id_kind", "adjustment")
    by_keyboard_submit(page, "Erreur de tarif sur trois mois")
    assert "attend l'approbation" in page.locator(".messages").inner_text()
    req = FourEyesRequest.objects.get()
    assert req.status == "pending"
    acc = PrepaymentAccount.objects.get(pk=customer_account.pk)
    assert balance_view(acc).balance_cents == before
    # The requester cannot approve it.
    page.goto(f"{base}/console/requests/{req.pk}/")
    page.check("#id_decision_0")
    by_keyboard_submit(page, "moi")
    assert "autre personne" in page.locator("#form-errors").inner_text()

    other = open_page()
    login(other, base, "bo2")
    other.goto(base + "/console/queues/approvals/")
    other.get_by_role("link", name="Approuver ou refuser").click()
    other.check("#id_decision_0")
    by_keyboard_submit(other, "Vu la facture rectificative")
    acc = PrepaymentAccount.objects.get(pk=customer_account.pk)
    assert balance_view(acc).balance_cents == before + 60000
    other.goto(base + "/console/dashboard/")
    assert_no_axe_violations(other)
    other.goto(f"{base}/console/customers/{sp.customer_id}/contact/")
    assert_no_axe_violations(other)
    other.goto(f"{base}/console/supply-points/{sp.pk}/pause/")
    assert_no_axe_violations(other)
    other.goto(f"{base}/console/supply-points/{sp.pk}/order/")
    assert_no_axe_violations(other)
    other.goto(f"{base}/console/search/?q=dupont")
    assert_no_axe_violations(other)
