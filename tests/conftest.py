"""Shared fixtures: a pinned clock, supply points ready to read, API clients with keys."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import TypeVar

import pytest
from hypothesis import settings as hypothesis_settings

from solde import clock
from solde.identifiers import make_ean

# No per-example deadline: the suite shares 2 cores with PostgreSQL, browsers and xdist
# workers, and a slow example is not a wrong one. Examples and shrinking are unchanged.
hypothesis_settings.register_profile("solde", deadline=None)
hypothesis_settings.load_profile("solde")

IN_CI = os.environ.get("CI") == "true"
T = TypeVar("T")


def _flush_through_the_ledger_guard() -> None:
    """Transactional tests end with Django's flush: TRUNCATE on PostgreSQL (the ledger's
    append-only triggers let it pass), one DELETE per table on SQLite, which the ledger's
    triggers refuse. Only here, the SQLite flush lifts them for its duration
    (solde.ledger.triggers.suspended; docs/decisions/0003-ledger-append-only-triggers.md)."""
    from django.db.backends.sqlite3.base import DatabaseOperations

    flush = DatabaseOperations.execute_sql_flush

    def execute_sql_flush(self, sql_list):
        from solde.ledger import triggers

        with triggers.suspended(self.connection.alias):
            return flush(self, sql_list)

    DatabaseOperations.execute_sql_flush = execute_sql_flush


def _flush_again_after_a_deadlock() -> None:
    """PostgreSQL: a request the live server is still answering when a browser test ends (or a
    background thread of its fixtures) can hold one table the flush's TRUNCATE needs while it
    waits for another the TRUNCATE holds. The server then cancels the TRUNCATE ("deadlock
    detected"), rolled back whole; the request finishes, and flushing again succeeds."""
    import time

    from django.db import OperationalError
    from django.db.backends.postgresql.operations import DatabaseOperations
    from psycopg.errors import DeadlockDetected

    flush = DatabaseOperations.execute_sql_flush

    def execute_sql_flush(self, sql_list):
        for attempt in range(3):
            try:
                return flush(self, sql_list)
            except OperationalError as exc:
                if not isinstance(exc.__cause__, DeadlockDetected) or attempt == 2:
                    raise
                time.sleep(0.2)

    DatabaseOperations.execute_sql_flush = execute_sql_flush


def pytest_configure(config) -> None:
    _flush_through_the_ledger_guard()
    _flush_again_after_a_deadlock()


def require(service: str, available: bool) -> None:
    """Skip a test whose outside service is missing — except in CI, where that is a failure."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{service} is required in CI and is not available")
    pytest.skip(f"{service} not available")


def drain_work():
    """Do every pending work item now, the close's settle delay included (solde.work): what the
    worker does within minutes. Tests call it where the platform would leave the rest to the
    worker, and after an injected crash."""
    from solde import work

    return work.drain(eager=True)


def on_postgres() -> bool:
    from django.db import connection

    return connection.vendor == "postgresql"


def at_once(n: int, call: Callable[[int], T], timeout: float = 30) -> list[T]:
    """`call(i)` in threads i = 0…n-1 released together, each on its own connection (closed
    after).

    The results in the order they came; a thread's exception is raised here."""
    import threading

    from django.db import connection

    barrier = threading.Barrier(n)
    results: list[T] = []
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(timeout)
            results.append(call(i))
        except BaseException as exc:  # noqa: BLE001 - raised in the test's thread below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    if errors:
        raise errors[0]
    return results


@pytest.fixture(autouse=True, scope="session")
def _plain_static_files():
    """Tests render pages straight from the apps' static folders; the hashed manifest is what
    `solde serve` collects (tested through the served demo in tests/test_demo_processes.py)."""
    from django.conf import settings
    from django.test.utils import override_settings

    storages = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    with override_settings(STORAGES=storages):
        yield


@pytest.fixture(autouse=True)
def _reference_language():
    """Each test starts in French, the reference language: a request in another language leaves
    it active in the thread (LocaleMiddleware never deactivates), which would leak into the
    next test's messages."""
    from django.conf import settings
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture(autouse=True)
def _reference_data(request):
    """Transactional tests flush the database: put the DSOs of migration 0002 back."""
    marker = request.node.get_closest_marker("django_db")
    transactional = (marker is not None and marker.kwargs.get("transaction")) or bool(
        {"transactional_db", "live_server"} & set(request.fixturenames)
    )
    if transactional:
        request.getfixturevalue("transactional_db")
        from solde.registry.reference import ensure_reference_data

        ensure_reference_data()


@pytest.fixture
def at():
    """Parse a local (Europe/Brussels) wall-clock time: at("2026-11-28 08:00")."""

    def parse(text: str) -> datetime:
        return datetime.fromisoformat(text).replace(tzinfo=clock.BRUSSELS)

    return parse


@pytest.fixture
def frozen() -> Iterator[datetime]:
    """The clock pinned at 2026-11-28 12:00 local; move it with clock.advance or clock.freeze."""
    start = datetime(2026, 11, 28, 12, 0, tzinfo=clock.BRUSSELS)
    with clock.freeze(start):
        yield start


_serial = iter(range(1, 10**9))


def new_ean(dso_prefix: str = "5414488") -> str:
    n = next(_serial)
    return make_ean(f"{dso_prefix}{n:010d}")


@pytest.fixture
def make_supply_point(db):
    """Create a supply point with customer, meter and pending prepayment account, through the
    registry's one creation service (what the API, the admin and the demo use)."""
    from solde.registry.models import ENERGY_REGISTERS, Customer, Dso, Supplier, SupplyPoint
    from solde.registry.services import NewSupplyPoint, create_supply_points

    def make(
        energy: str = "electricity",
        dso: str = "RESA",
        category: str = "average",
        protected: bool = False,
        ean: str | None = None,
        serial: str | None = None,
        registers: list[str] | None = None,
        supplier: str = "SUPPLIER-A",
        language: str = "fr",
        email: str = "client@example.org",
    ) -> SupplyPoint:
        ean = ean or new_ean()
        sup, _ = Supplier.objects.get_or_create(code=supplier, defaults={"name": supplier})
        [(sp, _meter)] = create_supply_points(
            [
                NewSupplyPoint(
                    ean=ean,
                    dso=Dso.objects.get(code=dso),
                    energy=energy,
                    customer=Customer(
                        first_name="Maurice",
                        last_name="Dupont",
                        email=email,
                        phone="+32470123456",
                        language=language,
                    ),
                    supplier=sup,
                    supplier_since=date(2000, 1, 1),
                    meter_serial=serial or f"M{next(_serial):07d}",
                    registers=registers or list(ENERGY_REGISTERS[energy]),
                    tariff_category=category,
                    protected=protected,
                    street="Rue Paradis",
                    number="62",
                    postcode="4000",
                    city="Liège",
                )
            ]
        )
        return SupplyPoint.objects.get(pk=sp.pk)

    return make


@pytest.fixture
def make_tariff(db):
    from solde.registry.models import Dso, Tariff

    def make(
        price: str,
        valid_from: str = "2026-01-01",
        energy: str = "electricity",
        category: str = "average",
        register: str = "",
        dso: str = "RESA",
    ) -> Tariff:
        return Tariff.objects.create(
            dso=Dso.objects.get(code=dso),
            energy=energy,
            category=category,
            register=register,
            valid_from=valid_from,
            price_eur_per_kwh=Decimal(price),
        )

    return make


@pytest.fixture
def api_key(db):
    """api_key("readings", "read") → the plaintext key of a new key with those scopes."""
    from solde.api.keys import create_key

    def make(*scopes: str, name: str | None = None) -> str:
        # A topups key is a retail partner's (a key with no channel collects nothing).
        channel = "retail" if "topups" in scopes else ""
        _, plaintext = create_key(
            name or f"test-{'-'.join(scopes)}-{next(_serial)}", scopes, channel
        )
        return plaintext

    return make


@pytest.fixture
def api(client, api_key):
    """api("readings") → a client function (method, path, json) authorised for those scopes."""
    import json as jsonlib

    def make(*scopes: str):
        key = api_key(*scopes)

        def call(method: str, path: str, json=None, **extra):
            kwargs = {"HTTP_AUTHORIZATION": f"Bearer {key}", **extra}
            if json is not None:
                kwargs["data"] = jsonlib.dumps(json)
                kwargs["content_type"] = "application/json"
            return getattr(client, method.lower())(path, **kwargs)

        return call

    return make


# --- Staff two-factor (production-like: SOLDE_STAFF_2FA on) -------------------------------------


def totp_code(device) -> str:
    """The code an authenticator app would show now for this django-otp TOTP device."""
    from django_otp.oath import totp

    return f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):06d}"


@pytest.fixture
def staff_2fa(settings):
    """Two-factor on for staff, as in production (the tests' default is the demo's: off)."""
    settings.STAFF_2FA = True
    return settings


@pytest.fixture
def totp_device(db):
    """totp_device(user) → a confirmed TOTP device, as after enrolment."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    def make(user):
        return TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)

    return make


@pytest.fixture
def verified_login(client, totp_device, staff_2fa):
    """verified_login(user) → the test client signed in with password and a valid TOTP code."""
    from django.urls import reverse

    def login(user, password: str | None = None):
        device = totp_device(user)
        if password is None:
            client.force_login(user)
        else:
            assert client.login(username=user.get_username(), password=password)
        response = client.post(reverse("console:two_factor"), {"code": totp_code(device)})
        assert response.status_code == 302, response.content[:500]
        client.user = user
        return client

    return login
