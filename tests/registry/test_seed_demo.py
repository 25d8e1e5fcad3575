"""`solde seed-demo` on a small fleet: what a demo visitor would see is there and plausible."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from solde import clock
from solde.api.keys import find_key
from solde.ledger.models import Transaction
from solde.ledger.services import verify
from solde.prepayment.models import PrepaymentAccount
from solde.readings.models import Reading
from solde.registry.models import Supplier, SupplyPoint, Tariff


@pytest.fixture
def seeded(db, frozen, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    out = StringIO()
    call_command("seed-demo", supply_points=40, days=3, stdout=out)
    return out.getvalue()


def check_fleet(seeded):
    sps = list(SupplyPoint.objects.select_related("customer"))
    assert len(sps) == 40
    assert {sp.energy for sp in sps} == {"electricity", "gas"}
    assert {sp.dso_id for sp in sps} == {"RESA", "ORES"}
    assert {sp.tariff_category for sp in sps} == {"social", "average"}
    assert any(sp.protected for sp in sps)
    assert all(sp.customer_reference == sp.ean[-13:] and sp.structured_communication for sp in sps)
    assert all(sp.customer.email.endswith("@example.org") for sp in sps)
    assert Supplier.objects.count() == 3
    for dso in ("RESA", "ORES"):
        for energy in ("electricity", "gas"):
            for category in ("social", "average"):
                assert Tariff.objects.filter(dso=dso, energy=energy, category=category).exists()
    assert "Seeded 40 supply points" in seeded


def check_history_is_complete_and_activates_accounts(seeded):
    start = clock.day_start(clock.today() - timedelta(days=3))
    pending = PrepaymentAccount.objects.filter(state="pending")
    assert pending.count() == 1  # a meter not communicating yet
    assert not Reading.objects.filter(meter__supply_point__account__in=pending).exists()
    active = PrepaymentAccount.objects.filter(state="active")
    assert active.count() == 39
    assert set(active.values_list("activated_at", flat=True)) == {start}
    # Every meter has every register at every local midnight of the history (closable days).
    midnights = [clock.day_start(clock.today() - timedelta(days=d)) for d in range(4)]
    for sp in SupplyPoint.objects.filter(account__state="active").prefetch_related("meters"):
        meter = sp.meters.get()
        for register in meter.registers:
            have = set(
                Reading.objects.filter(
                    meter=meter, register=register, at__in=midnights
                ).values_list("at", flat=True)
            )
            assert have == set(midnights), (sp.ean, register)


def check_indexes_never_decrease_and_follow_the_day(seeded):
    per_series = defaultdict(list)
    for meter_id, register, at, value in Reading.objects.order_by("at").values_list(
        "meter_id", "register", "at", "value_milli"
    ):
        per_series[meter_id, register].append((at, value))
    night, evening = 0, 0
    for (_, register), series in per_series.items():
        values = [v for _, v in series]
        assert values == sorted(values)
        if register in ("1.8.1", "1.8.2"):
            for (a, va), (_b, vb) in zip(series, series[1:], strict=False):
                hour = clock.local(a).hour
                if 2 <= hour < 5:
                    night += vb - va
                elif 18 <= hour < 21:
                    evening += vb - va
    assert evening > 2 * night  # an evening peak well above the night's base load


def check_top_ups_and_ledger(seeded):
    assert Transaction.objects.filter(kind="topup").exists()
    assert Transaction.objects.filter(kind="advance").count() == 39
    assert verify().ok


def check_logins(seeded, settings):
    assert get_user_model().objects.get(username="admin").is_superuser
    text = (settings.DATA_DIR / "demo-logins.txt").read_text()
    keys = [line.rsplit(" ", 1)[1] for line in text.splitlines() if line.startswith("API key")]
    assert len(keys) == 4 and all(find_key(k) for k in keys)
    console = [line for line in text.splitlines() if line.startswith("Console:")]
    assert len(console) == 4 and "/console/" in seeded  # one operator per role, printed too


def test_seed_demo(seeded, settings):
    # One seeding checked from several sides (seeding is the slow part).
    check_fleet(seeded)
    check_history_is_complete_and_activates_accounts(seeded)
    check_indexes_never_decrease_and_follow_the_day(seeded)
    check_top_ups_and_ledger(seeded)
    check_logins(seeded, settings)


def test_refuses_to_seed_twice(seeded):
    with pytest.raises(CommandError, match="already holds 40 supply points"):
        call_command("seed-demo", supply_points=5, days=1, stdout=StringIO())
    assert SupplyPoint.objects.count() == 40


def test_seeded_top_ups_are_top_ups_with_channels_bank_lines_and_statements(
    db, frozen, settings, tmp_path
):
    from solde.settlement.models import Statement
    from solde.settlement.services import settle
    from solde.topups.models import BankLine, Topup

    settings.DATA_DIR = tmp_path
    call_command("seed-demo", supply_points=80, days=12, stdout=StringIO())
    topups = list(Topup.objects.select_related("partner", "transaction"))
    # Every credit on a balance is a top-up record the screens and the settlement read.
    assert len(topups) == Transaction.objects.filter(kind="topup").count() > 0
    channels = {t.channel for t in topups}
    assert {"online", "retail", "terminal", "transfer"} <= channels
    for t in topups:
        assert t.supplier_id is not None and t.transaction.at == t.credited_at
        if t.channel in ("retail", "terminal", "cpas"):
            assert t.partner is not None and t.partner.channel == t.channel
        if t.channel == "transfer":
            line = BankLine.objects.get(topup=t)
            assert line.amount_cents == t.amount_cents and line.booking_date == t.day
            assert line.structured == t.supply_point.structured_communication
    # The past week is settled and issued; this week's top-ups wait for `solde settle`.
    last_sunday = clock.today() - timedelta(days=clock.today().weekday() + 1)
    issued = Statement.objects.filter(status="issued")
    assert issued.exists() and all(s.period_end <= last_sunday for s in issued)
    assert sum(s.lines.count() for s in issued) == sum(t.day <= last_sunday for t in topups)
    report = settle("week", clock.today())
    assert report.new_lines == sum(t.day > last_sunday for t in topups) > 0
    assert verify().ok
