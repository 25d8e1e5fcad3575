"""The mass-cut guard (RULES.md §7): a run over the threshold is held for an operator."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from solde import clock
from solde.orders.models import Order
from solde.prepayment import credit_control
from solde.prepayment.models import CreditDecision, HeldRun
from solde.registry.models import Dso

from .conftest import top_up

pytestmark = pytest.mark.django_db


@pytest.fixture
def crowd(make_account, at):
    """25 active RESA accounts, 22 of them exhausted: 88 % and more than 20 → over the guard."""
    with clock.freeze(at("2026-12-05 12:00")):  # Saturday: set-up triggers nothing
        exhausted = [make_account(-1300) for _ in range(22)]
        fine = [make_account(500) for _ in range(3)]
    return exhausted, fine


def cut_orders():
    return Order.objects.filter(kind__in=("disconnect", "limit_power"))


def test_a_run_over_the_threshold_is_held_with_its_list_and_count(crowd, at):
    exhausted, _ = crowd
    with clock.freeze(at("2026-12-07 08:00")):
        result = credit_control.evaluate([a.pk for a in exhausted], "window")
    assert cut_orders().count() == 0
    run = HeldRun.objects.get()
    assert result.held_runs == [run.pk] and result.interrupted == []
    assert (run.dso_id, run.count, run.active_accounts, run.status) == ("RESA", 22, 25, "held")
    held = CreditDecision.objects.filter(held_run=run, decision="held")
    assert sorted(held.values_list("account_id", flat=True)) == sorted(a.pk for a in exhausted)
    # Held accounts are not held again by the next run while the operator decides.
    with clock.freeze(at("2026-12-07 09:00")):
        credit_control.evaluate([a.pk for a in exhausted], "window")
    assert HeldRun.objects.count() == 1 and cut_orders().count() == 0


def test_under_the_threshold_nothing_is_held(make_account, at):
    Dso.objects.filter(code="RESA").update(mass_cut_minimum=30)
    with clock.freeze(at("2026-12-05 12:00")):
        accounts = [make_account(-1300) for _ in range(22)]
    with clock.freeze(at("2026-12-07 08:00")):
        credit_control.evaluate([a.pk for a in accounts], "window")
    assert HeldRun.objects.count() == 0 and cut_orders().count() == 22


def test_confirming_rechecks_each_account_then_releases(crowd, at):
    exhausted, _ = crowd
    with clock.freeze(at("2026-12-07 08:00")):
        credit_control.evaluate([a.pk for a in exhausted], "window")
        top_up(exhausted[0], 2000)  # paid meanwhile: no longer exhausted
    run = HeldRun.objects.get()
    with clock.freeze(at("2026-12-07 09:30")):
        result = credit_control.release_held_run(run.pk)
    assert len(result.interrupted) == 21 and result.skipped == [exhausted[0].pk]
    assert cut_orders().count() == 21
    assert not cut_orders().filter(meter__supply_point=exhausted[0].supply_point_id).exists()
    run.refresh_from_db()
    assert (run.status, run.released_count, run.skipped_count) == ("released", 21, 1)
    sent = CreditDecision.objects.filter(held_run=run, decision="interrupt")
    assert sent.count() == 21 and all(d.order_id for d in sent)
    assert CreditDecision.objects.get(held_run=run, decision="release_skipped").balance_cents == 700
    with pytest.raises(ValueError):
        credit_control.release_held_run(run.pk)  # released once only
    assert cut_orders().count() == 21


def test_confirming_outside_a_window_sends_nothing(crowd, at):
    exhausted, _ = crowd
    with clock.freeze(at("2026-12-07 08:00")):
        credit_control.evaluate([a.pk for a in exhausted], "window")
    run = HeldRun.objects.get()
    with clock.freeze(at("2026-12-07 16:00")), pytest.raises(credit_control.NotInWindow):
        credit_control.release_held_run(run.pk)
    run.refresh_from_db()
    assert run.status == "held" and cut_orders().count() == 0


def test_rejecting_sends_nothing(crowd, at):
    exhausted, _ = crowd
    with clock.freeze(at("2026-12-07 08:00")):
        credit_control.evaluate([a.pk for a in exhausted], "window")
        run = HeldRun.objects.get()
        assert credit_control.reject_held_run(run.pk) == 22
    run.refresh_from_db()
    assert run.status == "rejected" and cut_orders().count() == 0
    assert CreditDecision.objects.filter(held_run=run, decision="rejected").count() == 22


def test_operator_confirms_in_the_admin(crowd, at, client):
    exhausted, _ = crowd
    with clock.freeze(at("2026-12-07 08:00")):
        credit_control.evaluate([a.pk for a in exhausted], "window")
    run = HeldRun.objects.get()
    admin = User.objects.create_superuser("operator", "op@example.org", "pw-not-used")
    client.force_login(admin)
    url = "/admin/prepayment/heldrun/"
    with clock.freeze(at("2026-12-07 10:00")):
        page = client.post(url, {"action": "confirm_and_release", "_selected_action": [run.pk]})
        assert page.status_code == 200
        body = page.content.decode()
        assert exhausted[0].supply_point.ean in body and "22" in body
        assert cut_orders().count() == 0  # the list is shown, nothing sent yet
        done = client.post(
            url,
            {"action": "confirm_and_release", "_selected_action": [run.pk], "confirmed": "yes"},
            follow=True,
        )
    assert done.status_code == 200
    assert cut_orders().count() == 22
    run.refresh_from_db()
    assert run.status == "released" and run.decided_by == admin
    # The held run's page and the account's page show the decisions.
    assert client.get(f"{url}{run.pk}/change/").status_code == 200
    account_page = client.get(f"/admin/prepayment/prepaymentaccount/{exhausted[1].pk}/change/")
    assert account_page.status_code == 200
    assert "exhausted in an allowed window, disconnect" in account_page.content.decode()
    assert "mass-cut guard" in account_page.content.decode()


def test_operator_rejects_in_the_admin(crowd, at, client):
    exhausted, _ = crowd
    with clock.freeze(at("2026-12-07 08:00")):
        credit_control.evaluate([a.pk for a in exhausted], "window")
    run = HeldRun.objects.get()
    client.force_login(User.objects.create_superuser("op2", "op2@example.org", "x"))
    client.post("/admin/prepayment/heldrun/", {"action": "reject", "_selected_action": [run.pk]})
    run.refresh_from_db()
    assert run.status == "rejected" and cut_orders().count() == 0


def test_decisions_attach_to_another_apps_account_admin():
    from django.contrib import admin

    from solde.prepayment import credit_admin
    from solde.prepayment.models import PrepaymentAccount

    site = admin.AdminSite(name="other")

    class TheirAccountAdmin(admin.ModelAdmin):
        inlines = []

    site.register(PrepaymentAccount, TheirAccountAdmin)
    credit_admin.register(site)
    assert site._registry[PrepaymentAccount].__class__ is TheirAccountAdmin
    assert credit_admin.DecisionInline in site._registry[PrepaymentAccount].inlines
    assert site.is_registered(HeldRun)
