"""Held mass cuts: a supervisor proposes, a second supervisor carries it out (four eyes);
agents cannot."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from solde import clock
from solde.backoffice import services
from solde.backoffice.models import FourEyesRequest, OperatorAction
from solde.orders.models import Order
from solde.prepayment import credit_control
from solde.prepayment.models import HeldRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def held(make_account, at):
    with clock.freeze(at("2026-12-05 12:00")):  # Saturday
        exhausted = [make_account(-1300) for _ in range(22)]
        [make_account(500) for _ in range(3)]
    with clock.freeze(at("2026-12-07 08:00")):
        credit_control.evaluate([a.pk for a in exhausted], "window")
    return HeldRun.objects.get()


def cuts():
    return Order.objects.filter(kind__in=("disconnect", "limit_power"))


def test_an_agent_cannot_release_a_held_run(held, operator, console):
    with pytest.raises(PermissionDenied):
        services.request_held_run_decision(operator("agent"), held, True, "urgent")
    c = console("agent")
    assert c.get(f"/console/held-runs/{held.pk}/").status_code == 403
    r = c.post(f"/console/held-runs/{held.pk}/", {"decision": "release", "reason": "x"})
    assert r.status_code == 403
    assert not FourEyesRequest.objects.exists() and cuts().count() == 0


def test_two_supervisors_release_a_held_run(held, operator, at):
    first, second = operator("supervisor"), operator("supervisor")
    with clock.freeze(at("2026-12-07 09:00")):
        req = services.request_held_run_decision(first, held, True, "Liste vérifiée")
        assert cuts().count() == 0
        with pytest.raises(services.ActionError):
            services.decide(first, req, True, "moi")
        done = services.decide(second, req, True, "Liste vérifiée aussi")
    assert "22" in done
    held.refresh_from_db()
    assert (held.status, held.decided_by, held.released_count) == ("released", second, 22)
    assert cuts().count() == 22
    kinds = set(OperatorAction.objects.values_list("kind", flat=True))
    assert {"held_run_requested", "held_run_released"} <= kinds


def test_a_second_supervisor_cancels_a_held_run(held, operator, at):
    with clock.freeze(at("2026-12-07 09:00")):
        req = services.request_held_run_decision(
            operator("supervisor"), held, False, "Erreur de tarif"
        )
        with pytest.raises(services.ActionError, match="attend déjà"):
            services.request_held_run_decision(operator("supervisor"), held, True, "non")
        services.decide(operator("supervisor"), req, True, "D'accord")
    held.refresh_from_db()
    assert held.status == "rejected" and cuts().count() == 0


def test_a_release_outside_a_window_is_refused_and_the_request_stays_open(held, operator, at):
    with clock.freeze(at("2026-12-07 18:00")):
        req = services.request_held_run_decision(operator("supervisor"), held, True, "ok")
        with pytest.raises(services.ActionError, match="plage"):
            services.decide(operator("supervisor"), req, True, "ok")
    req.refresh_from_db()
    held.refresh_from_db()
    assert req.status == "pending" and held.status == "held" and cuts().count() == 0


def test_releasing_a_held_run_skips_a_paused_account(held, operator, at):
    from solde.prepayment.models import CreditDecision

    paused = CreditDecision.objects.filter(held_run=held).first().account
    with clock.freeze(at("2026-12-07 09:00")):
        services.pause_interruptions(
            operator("backoffice"), paused, clock.local_date(clock.now()), "Appareil médical"
        )
        req = services.request_held_run_decision(operator("supervisor"), held, True, "ok")
        services.decide(operator("supervisor"), req, True, "ok")
    assert cuts().count() == 21
    assert not cuts().filter(meter__supply_point=paused.supply_point_id).exists()
    skipped = CreditDecision.objects.get(account=paused, decision="release_skipped")
    assert skipped.rule == "§7: interruptions paused by an operator"
