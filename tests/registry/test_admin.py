"""Every model in the admin: its list, a search, a filter and one object's page render."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse

from solde.registry.models import Supplier, SupplyPoint


@pytest.fixture
def fleet(make_supply_point, make_tariff, frozen):
    sp = make_supply_point(serial="SER-123")
    make_supply_point(energy="gas", dso="ORES", category="social", protected=True)
    make_tariff("0.30")
    return sp


def registered():
    return sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


@pytest.mark.parametrize("model", [m for m, _ in registered()], ids=lambda m: m._meta.label)
def test_every_admin_page_renders(admin_client, fleet, model):
    model_admin = admin.site._registry[model]
    opts = model._meta
    changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    assert admin_client.get(changelist).status_code == 200
    if model_admin.search_fields:
        assert admin_client.get(changelist, {"q": "54144"}).status_code == 200
    obj = model.objects.first()
    if obj is not None:
        change = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
        assert admin_client.get(change).status_code == 200
    if model_admin.has_add_permission(_request(admin_client)):
        add = reverse(f"admin:{opts.app_label}_{opts.model_name}_add")
        assert admin_client.get(add).status_code == 200


def _request(admin_client):
    from django.contrib.auth import get_user_model
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    request.user = get_user_model().objects.get(is_superuser=True)
    return request


@pytest.mark.parametrize(
    "term", ["SER-123", "Dupont", "4000", "EAN", "reference", "reference with spaces"]
)
def test_supply_point_search(admin_client, fleet, term):
    term = {
        "EAN": fleet.ean,
        "reference": fleet.customer_reference,
        "reference with spaces": " ".join(
            [
                fleet.customer_reference[:4],
                fleet.customer_reference[4:8],
                fleet.customer_reference[8:],
            ]
        ),
    }.get(term, term)
    r = admin_client.get("/admin/registry/supplypoint/", {"q": term})
    assert r.status_code == 200
    assert fleet.ean.encode() in r.content


def test_supply_point_filters(admin_client, fleet):
    r = admin_client.get(
        "/admin/registry/supplypoint/", {"dso__code__exact": "ORES", "energy__exact": "gas"}
    )
    assert r.status_code == 200
    gas = SupplyPoint.objects.get(energy="gas")
    assert gas.ean.encode() in r.content and fleet.ean.encode() not in r.content
    r = admin_client.get("/admin/registry/supplypoint/", {"protected__exact": "1"})
    assert gas.ean.encode() in r.content and fleet.ean.encode() not in r.content


def test_supply_point_page_shows_history_and_meters(admin_client, fleet):
    r = admin_client.get(f"/admin/registry/supplypoint/{fleet.pk}/change/")
    assert b"SER-123" in r.content and b"SUPPLIER-A" in r.content


def test_add_supply_point_in_admin_gets_reference_ogm_and_account(admin_client, fleet):
    from tests.conftest import new_ean

    ean = new_ean()
    r = admin_client.post(
        "/admin/registry/supplypoint/add/",
        {
            "ean": ean,
            "dso": "RESA",
            "energy": "electricity",
            "customer": fleet.customer_id,
            "tariff_category": "average",
            "street": "Rue X",
            "number": "1",
            "postcode": "4000",
            "city": "Liège",
            "supplier": Supplier.objects.get(code="SUPPLIER-A").pk,
            "meter_serial": "ADM-1",
            "meter_registers": "1.8.1, 1.8.2",
            "supplier_history-TOTAL_FORMS": "0",
            "supplier_history-INITIAL_FORMS": "0",
            "meters-TOTAL_FORMS": "0",
            "meters-INITIAL_FORMS": "0",
        },
    )
    assert r.status_code == 302, r.content[:3000]
    sp = SupplyPoint.objects.get(ean=ean)
    assert sp.customer_reference == ean[-13:] and sp.structured_communication
    assert sp.account.state == "pending"
    assert sp.meters.get().registers == ["1.8.1", "1.8.2"]
    assert sp.supplier_history.get().supplier.code == "SUPPLIER-A"


def test_admin_add_refuses_a_bad_ean(admin_client, fleet):
    r = admin_client.post(
        "/admin/registry/supplypoint/add/",
        {
            "ean": "541448800000000018",
            "dso": "RESA",
            "energy": "electricity",
            "customer": fleet.customer_id,
            "tariff_category": "average",
            "supplier_history-TOTAL_FORMS": "0",
            "supplier_history-INITIAL_FORMS": "0",
            "meters-TOTAL_FORMS": "0",
            "meters-INITIAL_FORMS": "0",
        },
    )
    assert r.status_code == 200 and b"check digit" in r.content
    assert not SupplyPoint.objects.filter(ean="541448800000000018").exists()


def test_admin_says_it_is_solde(client, admin_client, db):
    assert "Solde — administration" in client.get("/admin/login/").content.decode()
    page = admin_client.get("/admin/").content.decode()
    assert "Solde — administration" in page and 'href="/api/v1/docs"' in page


def change_form(sp, **extra):
    data = {
        "ean": sp.ean,
        "dso": sp.dso_id,
        "energy": sp.energy,
        "customer": sp.customer_id,
        "tariff_category": sp.tariff_category,
        "street": sp.street,
        "number": sp.number,
        "postcode": sp.postcode,
        "city": sp.city,
        "supplier_history-TOTAL_FORMS": "0",
        "supplier_history-INITIAL_FORMS": "0",
        "meters-TOTAL_FORMS": "0",
        "meters-INITIAL_FORMS": "0",
    }
    return {**data, **extra}


def test_admin_exchanges_a_meter_through_the_one_exchange_service(admin_client, fleet, frozen):
    from solde import clock

    url = f"/admin/registry/supplypoint/{fleet.pk}/change/"
    r = admin_client.post(url, change_form(fleet, meter_serial="SER-456"))
    assert r.status_code == 302, r.content[:3000]
    old, new = fleet.meters.order_by("pk")
    assert old.serial == "SER-123" and old.removed_at == clock.now()
    assert new.serial == "SER-456" and new.installed_at == clock.now() and new.removed_at is None
    assert new.registers == old.registers
    # A serial already registered is refused with the reason, and nothing changes.
    r = admin_client.post(url, change_form(fleet, meter_serial="SER-123"))
    assert r.status_code == 200 and "déjà enregistré" in r.content.decode()
    assert fleet.meters.count() == 2
    # Meters are not added or edited one by one any more.
    assert admin_client.get("/admin/registry/meter/add/").status_code == 403
