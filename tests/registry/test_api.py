"""PUT/GET of suppliers, tariffs and supply points through the API (API.md)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from solde import clock
from solde.prepayment.models import PrepaymentAccount
from solde.registry.models import Customer, Meter, Supplier, SupplierAssignment, SupplyPoint, Tariff
from tests.conftest import new_ean


def body(**overrides) -> dict:
    data = {
        "dso": "RESA",
        "energy": "electricity",
        "supplier": "SUPPLIER-A",
        "tariff_category": "average",
        "protected": False,
        "language": "fr",
        "customer": {
            "first_name": "Maurice",
            "last_name": "Dupont",
            "email": "m.dupont@example.org",
            "phone": "+32470123456",
        },
        "address": {"street": "Rue Paradis", "number": "62", "postcode": "4000", "city": "Liège"},
        "meter": {"serial": "5437948", "registers": ["1.8.1", "1.8.2", "2.8.1", "2.8.2"]},
    }
    data.update(overrides)
    return data


@pytest.fixture
def registry(api, frozen):
    call = api("registry", "read")
    Supplier.objects.create(code="SUPPLIER-A", name="Supplier A")
    Supplier.objects.create(code="SUPPLIER-B", name="Supplier B")
    return call


def nothing_written() -> bool:
    return not SupplyPoint.objects.exists() and not Customer.objects.exists()


def test_create_then_update(registry):
    ean = new_ean()
    r = registry("PUT", f"/api/v1/supply-points/{ean}", json=body())
    assert r.status_code == 201, r.content
    out = r.json()
    assert out["customer_reference"] == ean[-13:]
    assert out["structured_communication"].startswith("+++") and out["state"] == "pending"
    assert out["meter"] == {
        "serial": "5437948",
        "registers": ["1.8.1", "1.8.2", "2.8.1", "2.8.2"],
        "installed_at": None,
    }
    sp = SupplyPoint.objects.get(ean=ean)
    assert PrepaymentAccount.objects.get(supply_point=sp).state == "pending"

    changed = body(
        tariff_category="social",
        protected=True,
        language="nl",
        address={"street": "Rue Neuve", "number": "1", "postcode": "4020", "city": "Liège"},
    )
    r = registry("PUT", f"/api/v1/supply-points/{ean}", json=changed)
    assert r.status_code == 200, r.content
    out = r.json()
    assert out["tariff_category"] == "social" and out["protected"] is True
    assert out["language"] == "nl" and out["address"]["street"] == "Rue Neuve"
    # Same reference and OGM, still one supply point, one account, one customer.
    assert out["customer_reference"] == ean[-13:]
    assert SupplyPoint.objects.count() == 1 and PrepaymentAccount.objects.count() == 1
    assert Customer.objects.count() == 1

    r = registry("GET", f"/api/v1/supply-points/{ean}")
    assert r.status_code == 200 and r.json()["tariff_category"] == "social"


@pytest.mark.parametrize(
    "ean, says",
    [
        ("54144880000000001", "18 digits"),  # 17 digits
        ("5414488000000000170", "18 digits"),  # 19 digits
        ("55144880000000001X", "18 digits"),
        ("551448800000000017", "starts with 54"),
        ("541448800000000018", "check digit"),
    ],
)
def test_invalid_ean_is_422_and_writes_nothing(registry, ean, says):
    r = registry("PUT", f"/api/v1/supply-points/{ean}", json=body())
    assert r.status_code == 422
    assert r.json()["error"] == "validation_error" and r.json()["field"] == "ean"
    assert says in r.json()["detail"]
    assert nothing_written()


def test_supplier_change_keeps_history(registry):
    ean = new_ean()
    registry("PUT", f"/api/v1/supply-points/{ean}", json=body())
    sp = SupplyPoint.objects.get(ean=ean)
    # Backdate the first assignment as if registered long ago.
    SupplierAssignment.objects.filter(supply_point=sp).update(valid_from=date(2025, 1, 1))
    r = registry("PUT", f"/api/v1/supply-points/{ean}", json=body(supplier="SUPPLIER-B"))
    assert r.status_code == 200 and r.json()["supplier"] == "SUPPLIER-B"
    history = list(sp.supplier_history.values_list("supplier__code", "valid_from"))
    assert history == [("SUPPLIER-A", date(2025, 1, 1)), ("SUPPLIER-B", clock.today())]
    assert sp.supplier_on(clock.today() - timedelta(days=1)).code == "SUPPLIER-A"
    # The same supplier again changes nothing.
    registry("PUT", f"/api/v1/supply-points/{ean}", json=body(supplier="SUPPLIER-B"))
    assert sp.supplier_history.count() == 2


def test_new_serial_is_a_meter_exchange(registry):
    ean = new_ean()
    registry("PUT", f"/api/v1/supply-points/{ean}", json=body())
    r = registry(
        "PUT",
        f"/api/v1/supply-points/{ean}",
        json=body(meter={"serial": "NEW-1", "registers": ["1.8.1", "1.8.2"]}),
    )
    assert r.status_code == 200 and r.json()["meter"]["serial"] == "NEW-1"
    old, new = Meter.objects.order_by("pk")
    assert old.serial == "5437948" and old.removed_at == clock.now()
    assert new.installed_at == clock.now() and new.removed_at is None


def test_meter_serial_of_another_supply_point_is_refused(registry):
    registry("PUT", f"/api/v1/supply-points/{new_ean()}", json=body())
    other = new_ean()
    r = registry("PUT", f"/api/v1/supply-points/{other}", json=body())
    assert r.status_code == 422 and r.json()["field"] == "meter.serial"
    assert not SupplyPoint.objects.filter(ean=other).exists()


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"supplier": "NOBODY"}, "supplier"),
        ({"dso": "XYZ"}, "dso"),
        ({"energy": "steam"}, "energy"),
        ({"tariff_category": "cheap"}, "tariff_category"),
        ({"meter": {"serial": "1", "registers": ["24.2.3"]}}, "meter.registers"),
        ({"meter": {"serial": "1", "registers": ["2.8.1"]}}, "meter.registers"),
        ({"customer": {"first_name": "A"}}, "customer.last_name"),
        ({"customer": {"last_name": "A", "email": "not-an-email"}}, "customer.email"),
        ({"language": "es"}, "language"),
    ],
)
def test_bad_fields_are_named(registry, overrides, field):
    r = registry("PUT", f"/api/v1/supply-points/{new_ean()}", json=body(**overrides))
    assert r.status_code == 422, r.content
    assert r.json()["field"] == field
    assert r.json()["detail"]
    assert nothing_written()


def test_energy_and_dso_of_an_ean_never_change(registry):
    ean = new_ean()
    registry("PUT", f"/api/v1/supply-points/{ean}", json=body())
    r = registry(
        "PUT",
        f"/api/v1/supply-points/{ean}",
        json=body(energy="gas", meter={"serial": "G1", "registers": ["24.2.3"]}),
    )
    assert r.status_code == 422 and r.json()["field"] == "energy"
    assert "never changes energy" in r.json()["detail"]
    r = registry("PUT", f"/api/v1/supply-points/{ean}", json=body(dso="ORES"))
    assert r.status_code == 422 and r.json()["field"] == "dso"
    sp = SupplyPoint.objects.get(ean=ean)
    assert (sp.dso_id, sp.energy) == ("RESA", "electricity")


def test_gas_supply_point(registry):
    ean = new_ean()
    r = registry(
        "PUT",
        f"/api/v1/supply-points/{ean}",
        json=body(energy="gas", meter={"serial": "G1", "registers": ["24.2.3"]}),
    )
    assert r.status_code == 201 and r.json()["energy"] == "gas"


def test_same_customer_for_gas_next_to_electricity(registry):
    registry("PUT", f"/api/v1/supply-points/{new_ean()}", json=body())
    gas = body(energy="gas", meter={"serial": "G1", "registers": ["24.2.3"]})
    registry("PUT", f"/api/v1/supply-points/{new_ean()}", json=gas)
    assert Customer.objects.count() == 1 and SupplyPoint.objects.count() == 2


def test_unknown_supply_point_is_404(registry):
    r = registry("GET", f"/api/v1/supply-points/{new_ean()}")
    assert r.status_code == 404 and r.json()["error"] == "not_found"


def test_supplier_create_and_rename(registry):
    r = registry("PUT", "/api/v1/suppliers/NEW-CO", json={"name": "New Co"})
    assert r.status_code == 201 and r.json() == {"code": "NEW-CO", "name": "New Co"}
    r = registry("PUT", "/api/v1/suppliers/NEW-CO", json={"name": "New Co SA"})
    assert r.status_code == 200 and Supplier.objects.get(code="NEW-CO").name == "New Co SA"
    r = registry("PUT", "/api/v1/suppliers/NEW-CO", json={"name": ""})
    assert r.status_code == 422 and r.json()["field"] == "name"


def tariff(**overrides) -> dict:
    data = {
        "dso": "RESA",
        "energy": "electricity",
        "category": "social",
        "register": "1.8.1",
        "valid_from": "2026-01-01",
        "price_eur_per_kwh": "0.23441",
    }
    data.update(overrides)
    return data


def test_tariff_with_register_created_then_replaced(registry):
    r = registry("PUT", "/api/v1/tariffs", json=tariff())
    assert r.status_code == 201 and r.json()["register"] == "1.8.1"
    r = registry("PUT", "/api/v1/tariffs", json=tariff(price_eur_per_kwh="0.25"))
    assert r.status_code == 200 and r.json()["price_eur_per_kwh"] == "0.25000"
    assert Tariff.objects.count() == 1


def test_tariff_without_register_is_for_every_register(registry):
    r = registry("PUT", "/api/v1/tariffs", json=tariff(register=None))
    assert r.status_code == 201 and r.json()["register"] is None
    assert Tariff.objects.get().register == ""
    registry("PUT", "/api/v1/tariffs", json=tariff())  # a register's own price beside it
    assert Tariff.objects.count() == 2
    r = registry("GET", "/api/v1/tariffs?dso=RESA&energy=electricity")
    assert [t["register"] for t in r.json()] == [None, "1.8.1"]


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"register": "2.8.1"}, "register"),
        ({"register": "24.2.3"}, "register"),
        ({"price_eur_per_kwh": "abc"}, "price_eur_per_kwh"),
        ({"price_eur_per_kwh": "-0.1"}, "price_eur_per_kwh"),
        ({"price_eur_per_kwh": "0.123456"}, "price_eur_per_kwh"),
        ({"dso": "NOPE"}, "dso"),
        ({"valid_from": "2026-13-01"}, "valid_from"),
        ({"energy": "water"}, "energy"),
    ],
)
def test_bad_tariff_is_422_naming_the_field(registry, overrides, field):
    r = registry("PUT", "/api/v1/tariffs", json=tariff(**overrides))
    assert r.status_code == 422, r.content
    assert r.json()["field"] == field
    assert not Tariff.objects.exists()


def test_401_without_a_key(client, db):
    r = client.put(
        f"/api/v1/supply-points/{new_ean()}", data=body(), content_type="application/json"
    )
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    r = client.get("/api/v1/supply-points/x", HTTP_AUTHORIZATION="Bearer solde_nope_nope")
    assert r.status_code == 401
    assert nothing_written()


def test_403_with_the_wrong_scope(api, db):
    call = api("readings")
    r = call("PUT", f"/api/v1/supply-points/{new_ean()}", json=body())
    assert r.status_code == 403 and "registry" in r.json()["detail"]
    r = call("PUT", "/api/v1/tariffs", json=tariff())
    assert r.status_code == 403
    r = api("registry")("GET", f"/api/v1/supply-points/{new_ean()}")  # reading needs "read"
    assert r.status_code == 403
    assert nothing_written() and not Tariff.objects.exists()


def test_control_characters_are_refused_not_500(registry):
    r = registry("PUT", "/api/v1/suppliers/A%00B", json={"name": "x"})
    assert r.status_code == 422 and r.json()["field"] == "path"
    r = registry("PUT", f"/api/v1/supply-points/{new_ean()}", json=body(supplier="A\x00"))
    assert r.status_code == 422 and r.json()["field"] == "supplier"


@pytest.mark.django_db
def test_any_valid_ean_registers_and_any_wrong_check_digit_is_refused(frozen):
    """Property: a supply point registers under any valid EAN with its last 13 digits as the
    reference; the same EAN with any other check digit is refused, naming the field."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from solde.identifiers import make_ean
    from solde.registry import services

    Supplier.objects.get_or_create(code="SUPPLIER-A", defaults={"name": "A"})

    @settings(
        max_examples=30, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(body12=st.from_regex(r"\A[0-9]{12}\Z"), wrong=st.integers(1, 9))
    def check(body12, wrong):
        ean = make_ean("54144" + body12)  # the reference is body12 + check digit
        serial = f"S{ean}"
        result = services.upsert_supply_point(
            ean, body(meter={"serial": serial, "registers": ["1.8.1"]})
        )
        assert result.supply_point.customer_reference == ean[-13:]
        bad = ean[:-1] + str((int(ean[-1]) + wrong) % 10)
        with pytest.raises(services.InvalidInput) as refused:
            services.upsert_supply_point(bad, body())
        assert refused.value.field == "ean"
        assert not SupplyPoint.objects.filter(ean=bad).exists()

    check()


@pytest.mark.django_db(transaction=True)
def test_two_registrations_of_one_new_ean_at_once(api_key):
    """PostgreSQL: PUTs of the same new EAN racing give one supply point and no refusal.

    The losers update the winner's supply point (200): none is told the EAN is "already
    registered" (422) because the winner committed while it was looking (a few rounds; the next
    test forces that interleaving)."""
    from django.test import Client

    from tests.conftest import at_once, on_postgres

    if not on_postgres():
        pytest.skip("a real race needs PostgreSQL's concurrent writers")
    Supplier.objects.create(code="SUPPLIER-A", name="A")
    key = api_key("registry")
    rounds = 3
    for _ in range(rounds):
        ean = new_ean()
        statuses = at_once(
            4,
            lambda _, ean=ean: (
                Client()
                .put(
                    f"/api/v1/supply-points/{ean}",
                    data=body(meter={"serial": f"SER-{ean[-6:]}", "registers": ["1.8.1"]}),
                    content_type="application/json",
                    HTTP_AUTHORIZATION=f"Bearer {key}",
                )
                .status_code
            ),
        )
        assert sorted(statuses) == [200, 200, 200, 201], ean
        assert SupplyPoint.objects.filter(ean=ean).count() == 1
    assert PrepaymentAccount.objects.count() == rounds


@pytest.mark.django_db(transaction=True)
def test_a_registration_committed_while_another_looks_for_the_ean_is_updated_not_refused(
    api_key,
):
    """PostgreSQL: the first registration commits just after the second found no supply point.

    The second must wait for it and update it (200), not refuse the EAN as already registered
    (422). Fails without the per-EAN turn in `upsert_supply_point`."""
    import threading
    import time

    from django.db import connection, transaction
    from django.test import Client

    from solde.registry import services
    from tests.conftest import on_postgres

    if not on_postgres():
        pytest.skip("a real race needs PostgreSQL's concurrent writers")
    Supplier.objects.create(code="SUPPLIER-A", name="A")
    key = api_key("registry")
    ean = new_ean()
    first_written, looked, statuses = threading.Event(), threading.Event(), []

    def first():  # registers the EAN, and commits once the second has looked or is waiting
        try:
            with transaction.atomic():
                services.upsert_supply_point(ean, body())
                first_written.set()
                deadline = time.monotonic() + 10
                while not looked.is_set() and time.monotonic() < deadline:
                    with connection.cursor() as cur:  # is the second waiting for our turn?
                        cur.execute(
                            "SELECT count(*) FROM pg_locks l JOIN pg_database d "
                            "ON d.oid = l.database "
                            "WHERE NOT l.granted AND d.datname = current_database()"
                        )
                        if cur.fetchone()[0]:
                            break
                    time.sleep(0.02)
        finally:
            connection.close()

    def note_the_look(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if "FOR UPDATE" in sql and "registry_supplypoint" in sql and not looked.is_set():
            looked.set()  # it found nothing: let the first commit now
            time.sleep(0.3)
        return result

    def second():
        try:
            first_written.wait(10)
            with connection.execute_wrapper(note_the_look):
                r = Client().put(
                    f"/api/v1/supply-points/{ean}",
                    data=body(),
                    content_type="application/json",
                    HTTP_AUTHORIZATION=f"Bearer {key}",
                )
            statuses.append((r.status_code, r.content[:200]))
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert [status for status, _ in statuses] == [200], statuses
    assert SupplyPoint.objects.filter(ean=ean).count() == 1
