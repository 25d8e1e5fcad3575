"""The search box: identifiers exactly or by prefix, contact details, names; ranked."""

from __future__ import annotations

import pytest

from solde.backoffice import search
from solde.identifiers import structured_communication
from solde.registry.models import Customer, SupplyPoint

pytestmark = pytest.mark.django_db


@pytest.fixture
def fleet(make_supply_point):
    a = make_supply_point(serial="SER-12345")
    b = make_supply_point(email="martine.lambert@example.org")
    Customer.objects.filter(pk=b.customer_id).update(
        first_name="Martine", last_name="Lambert", phone="+32471000000"
    )
    SupplyPoint.objects.filter(pk=b.pk).update(
        structured_communication=structured_communication(4242), street="Rue des Lilas"
    )
    b.refresh_from_db()
    return a, b


def ids(text: str) -> list[int]:
    return [pk for pk, _, _ in search.search(text)]


def test_full_ean_and_last_13_digits_with_separators(fleet):
    a, _ = fleet
    assert ids(a.ean)[0] == a.pk
    ref = a.customer_reference
    assert ids(f"{ref[:4]} {ref[4:8]}.{ref[8:]}")[0] == a.pk


def test_structured_communication_serial_phone_and_email(fleet):
    a, b = fleet
    assert ids(b.structured_communication) == [b.pk]
    assert ids("ser-12345")[0] == a.pk
    assert ids("0471 00 00 00") == [b.pk]
    assert ids("MARTINE.LAMBERT@example.org") == [b.pk]


def test_names_and_addresses_every_word_must_match(fleet):
    a, b = fleet
    assert ids("lambert") == [b.pk]
    assert ids("martine lilas") == [b.pk]
    assert ids("martine paradis") == []
    assert set(ids("dupont")) == {a.pk}


def test_exact_identifiers_rank_before_prefixes(make_supply_point):
    sps = [make_supply_point() for _ in range(3)]
    target = sps[1]
    rows = search.search(target.customer_reference)
    assert rows[0][0] == target.pk and rows[0][2] == "reference"
    prefix = search.search(target.ean[:10])
    assert {pk for pk, _, _ in prefix} >= {sp.pk for sp in sps}
    assert all(rank == 1 for _, rank, _ in prefix)


def test_results_are_paginated(make_supply_point):
    for _ in range(search.PAGE_SIZE + 3):
        make_supply_point()
    page, hits, capped = search.page_of("dupont", 2)
    assert page.paginator.count == search.PAGE_SIZE + 3 and len(hits) == 3 and not capped


def test_hostile_input_finds_nothing_and_breaks_nothing(fleet):
    for text in ["%", "_", "' OR 1=1 --", "\\", "a" * 500, "   "]:
        assert search.search(text) == [] or all(isinstance(r[0], int) for r in search.search(text))
    assert ids("%") == []


def test_search_as_you_type_returns_the_results_fragment(fleet, console):
    a, _ = fleet
    c = console("agent")
    r = c.get("/console/search/", {"q": a.customer_reference}, HTTP_HX_REQUEST="true")
    body = r.content.decode()
    assert r.status_code == 200 and "<html" not in body
    assert a.ean in body and f"/console/customers/{a.customer_id}/" in body
    full = c.get("/console/search/", {"q": a.customer_reference}).content.decode()
    assert "<html" in full and a.ean in full
