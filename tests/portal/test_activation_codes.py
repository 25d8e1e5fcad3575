"""Activation codes (RULES.md §1): issued at activation, hashed, single use, forgiving input."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from solde import clock
from solde.identifiers import hash_secret, new_activation_code, normalize_activation_code
from solde.notifications.models import Event
from solde.portal import services
from solde.portal.models import ActivationCode
from solde.sealed import unseal


def issued_code(sp) -> str:
    event = Event.objects.get(supply_point=sp, kind="activation_code_issued")
    return unseal(event.payload["code_sealed"])


def test_activation_issues_one_code_and_publishes_it(active_sp):
    code = issued_code(active_sp)
    assert re.fullmatch(r"PP[23456789ABCDEFGHJKMNPQRSTVWXYZ]{8}", code)
    row = ActivationCode.objects.get(supply_point=active_sp)
    # Only the keyed hash is stored, never the code itself.
    assert row.code_hash == hash_secret(code)
    assert code not in row.code_hash
    assert row.expires_at - row.issued_at == timedelta(days=active_sp.dso.activation_code_days)
    event = Event.objects.get(supply_point=active_sp, kind="activation_code_issued")
    assert event.payload["customer_reference"] == active_sp.customer_reference
    assert event.payload["structured_communication"] == active_sp.structured_communication


def test_codes_are_case_insensitive_and_ignore_spaces_and_dashes(active_sp):
    code = issued_code(active_sp)
    typed = f" {code[:2].lower()}-{code[2:6].lower()} {code[6:]} "
    assert services.find_code(typed).supply_point_id == active_sp.pk


@pytest.mark.parametrize("typed", ["", "PP2345", "PPAAAAAAAA", "nonsense"])
def test_wrong_codes_are_refused_with_a_sentence(active_sp, typed):
    with pytest.raises(services.PortalError) as exc:
        services.find_code(typed)
    assert exc.value.args[0].endswith(".")


def test_expired_code_is_refused(active_sp):
    code = issued_code(active_sp)
    clock.advance(timedelta(days=active_sp.dso.activation_code_days, seconds=1))
    with pytest.raises(services.PortalError, match="expiré"):
        services.find_code(code)


def test_code_is_single_use(active_sp):
    code = issued_code(active_sp)
    row = services.find_code(code)
    services.create_portal_account(
        row.pk,
        first_name="Maurice",
        last_name="Dupont",
        email="m@example.org",
        phone="",
        language="fr",
    )
    with pytest.raises(services.PortalError, match="déjà été utilisé"):
        services.find_code(code)
    with pytest.raises(services.PortalError):
        services.create_portal_account(
            row.pk, first_name="X", last_name="Y", email="x@example.org", phone="", language="fr"
        )


def test_bulk_activation_issues_one_code_per_account(frozen, make_supply_point, activate):
    from django.db import transaction

    from solde.prepayment.services import activate as activate_accounts

    sps = [make_supply_point() for _ in range(5)]
    with transaction.atomic():
        activate_accounts({sp.pk: clock.now() for sp in sps})
    assert ActivationCode.objects.count() == 5
    codes = {
        unseal(e.payload["code_sealed"])
        for e in Event.objects.filter(kind="activation_code_issued")
    }
    assert len(codes) == 5


def test_issue_activation_code_by_hand(active_sp):
    code = services.issue_activation_code(active_sp)
    assert services.find_code(code).supply_point_id == active_sp.pk
    assert ActivationCode.objects.filter(supply_point=active_sp).count() == 2


@given(
    code=st.builds(lambda _: new_activation_code(), st.integers()),
    cuts=st.lists(st.tuples(st.integers(0, 10), st.sampled_from([" ", "-", "  ", " - "]))),
    lower=st.lists(st.booleans(), min_size=10, max_size=10),
)
def test_any_spacing_dashes_or_case_gives_the_same_code(code, cuts, lower):
    typed = "".join(c.lower() if low else c for c, low in zip(code, lower, strict=True))
    for pos, sep in sorted(cuts, reverse=True):
        typed = typed[:pos] + sep + typed[pos:]
    assert normalize_activation_code(typed) == code
