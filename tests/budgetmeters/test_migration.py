"""The budget-meter migration on a 1,000-line file with ten bad lines: the dry run reports each
line, the import migrates the rest by batches with their balances and letters, a second run is
a no-op, and the ledger stays balanced."""

from __future__ import annotations

import random
import re
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from solde.budgetmeters import services
from solde.budgetmeters.rules import MigrationFileError, parse_amount
from solde.identifiers import make_ean
from solde.ledger.models import LedgerAccount, Transaction
from solde.ledger.services import verify
from solde.portal.services import find_code
from solde.prepayment import services as prepayment
from solde.prepayment.models import PrepaymentAccount
from solde.registry.models import Dso, Supplier, SupplyPoint

HEADER = (
    "ean;first_name;last_name;street;number;postcode;city;language;email;phone;energy;"
    "tariff_category;protected;balance_eur;meter_placed_on;meter_serial;supplier"
)
BAD = {
    # line number in the file (header = 1) → (what is planted, expected problem code)
    12: "bad_check_digit",
    140: "bad_check_digit",
    333: "bad_check_digit",
    77: "unknown_ean",
    512: "unknown_ean",
    250: "bad_amount",
    901: "bad_amount",
    640: "bad_date",
    # line 1000 repeats the EAN of line 700: both are refused.
    700: "duplicate_ean",
    1000: "duplicate_ean",
}


def make_file(n: int = 1000, bad: bool = True, seed: int = 7) -> tuple[bytes, dict[int, dict]]:
    rng = random.Random(seed)
    lines, rows = [HEADER], {}
    for line in range(2, n + 2):
        i = line - 2
        energy = "gas" if i % 3 == 2 else "electricity"
        ean = make_ean(f"541448{'2' if energy == 'gas' else '1'}{5_000_000 + i:010d}")
        cents = rng.choice([0, 1250, 4300, -2000, -7550, 900])
        row = {
            "ean": ean,
            "first_name": "Annick",
            "last_name": f"Budget{i}",
            "street": "Rue du Compteur",
            "number": str(i),
            "postcode": "4000",
            "city": "Liège",
            "language": ["fr", "nl", "de", "en"][i % 4],
            "email": f"budget{i}@example.org" if i % 2 else "",
            "phone": "+32470000000",
            "energy": energy,
            "tariff_category": "social" if i % 5 == 0 else "average",
            "protected": "yes" if i % 10 == 0 else "no",
            "balance_eur": f"{cents / 100:.2f}".replace(".", ","),
            "meter_placed_on": "2026-11-20",
            "meter_serial": f"BM{i:07d}",
            "supplier": "SUPPLIER-A",
        }
        rows[line] = row
    if bad:
        for line, code in BAD.items():
            if line not in rows:
                continue
            row = rows[line]
            if code == "bad_check_digit":
                row["ean"] = row["ean"][:17] + str((int(row["ean"][17]) + 1) % 10)
            elif code == "unknown_ean":
                row["ean"] = make_ean(f"5414491{9_000_000 + line:010d}")  # ORES's prefix
            elif code == "bad_amount":
                row["balance_eur"] = "12,5,0" if line == 250 else "douze"
            elif code == "bad_date":
                row["meter_placed_on"] = "31/02/2026"
        if 1000 in rows:
            rows[1000]["ean"] = rows[700]["ean"]
    for line in range(2, n + 2):
        lines.append(";".join(rows[line].values()))
    return ("\n".join(lines) + "\n").encode(), rows


@pytest.fixture
def ready(db, frozen, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    Dso.objects.filter(code="RESA").update(ean_prefixes="541448")
    Dso.objects.filter(code="ORES").update(ean_prefixes="541449")
    Supplier.objects.create(code="SUPPLIER-A", name="Supplier A")
    return tmp_path


def test_dry_run_then_import_then_rerun_of_a_thousand_lines(ready):
    data, rows = make_file()

    dry = services.migrate(data, "RESA", dry_run=True)
    assert len(dry.lines) == 1000
    refused = {o.line: {p.code for p in o.problems} for o in dry.refused}
    assert set(refused) == set(BAD)
    for line, code in BAD.items():
        assert code in refused[line], (line, refused[line])
    assert dry.count("new") == 990
    # Nothing written by the dry run.
    assert not SupplyPoint.objects.exists() and not Transaction.objects.exists()

    report = services.migrate(data, "RESA", batch_size=250)
    assert report.count("migrated") == 990 and report.count("refused") == 10
    assert [b.lines for b in report.batches] == [250, 250, 250, 240]
    assert SupplyPoint.objects.count() == 990
    assert PrepaymentAccount.objects.filter(state="pending").count() == 990
    # Each account opened with its carried balance, as its own transaction kind.
    carried = Transaction.objects.filter(kind="carried_balance")
    assert carried.count() == 990
    for line, row in list(rows.items())[:60]:
        if line in BAD or line == 700:
            continue
        cents = parse_amount(row["balance_eur"])
        acc = PrepaymentAccount.objects.select_related("balance_account", "advance_account").get(
            supply_point__ean=row["ean"]
        )
        assert acc.balance_account.balance_cents == max(cents, 0)
        assert acc.advance_account.balance_cents == min(cents, 0)
    total = sum(parse_amount(rows[o.line]["balance_eur"]) for o in report.lines if o.batch)
    assert LedgerAccount.objects.get(code="carried:RESA").balance_cents == -total
    assert verify().ok
    # One printable PDF per batch; its activation codes work on the portal.
    pdf = Path(ready, report.batches[0].pdf).read_bytes()
    assert (
        pdf.startswith(b"%PDF")
        and pdf.count(b"/Type /Page\n") + pdf.count(b"/Type /Page ") >= report.batches[0].letters
    )
    codes = re.findall(rb"PP[A-Z0-9]{8}", pdf)
    assert len(set(codes)) == 250
    assert find_code(codes[0].decode()).supply_point.ean in {r["ean"] for r in rows.values()}

    before = Transaction.objects.count()
    again = services.migrate(data, "RESA", batch_size=250)
    assert again.count("already_migrated") == 990 and again.count("refused") == 10
    assert again.batches == [] and Transaction.objects.count() == before
    assert SupplyPoint.objects.count() == 990


def test_a_carried_credit_replaces_the_advance_and_a_debt_adds_to_it(ready):
    data, rows = make_file(n=6, bad=False)
    services.migrate(data, "RESA")
    by_cents = {parse_amount(r["balance_eur"]): r["ean"] for r in rows.values()}
    credit_ean = next(e for c, e in by_cents.items() if c > 0)
    debt_cents, debt_ean = next((c, e) for c, e in by_cents.items() if c < 0)
    accounts = {
        a.supply_point.ean: a for a in PrepaymentAccount.objects.select_related("supply_point__dso")
    }
    prepayment.activate({a.supply_point_id: ready_at() for a in accounts.values()})
    credit = PrepaymentAccount.objects.select_related("balance_account", "advance_account").get(
        pk=accounts[credit_ean].pk
    )
    assert credit.state == "active"
    assert credit.balance_account.balance_cents == parse_amount(rows_by_ean(rows)[credit_ean])
    assert credit.advance_account.balance_cents == 0  # no starting advance to recover
    debt = PrepaymentAccount.objects.select_related(
        "balance_account", "advance_account", "supply_point__dso"
    ).get(pk=accounts[debt_ean].pk)
    advance = debt.supply_point.dso.advance_cents(debt.supply_point.energy)
    assert debt.balance_account.balance_cents == advance
    # The debt is outstanding like the advance: the close recovers both at the daily amount.
    assert debt.advance_account.balance_cents == debt_cents - advance
    assert verify().ok


def ready_at():
    from solde import clock

    return clock.now()


def rows_by_ean(rows):
    return {r["ean"]: r["balance_eur"] for r in rows.values()}


def test_the_command_reports_refused_lines_and_fails(ready, tmp_path):
    data, _ = make_file(n=30)
    path = tmp_path / "talexus.csv"
    path.write_bytes(data)
    out = StringIO()
    with pytest.raises(CommandError, match="1 lines refused"):
        call_command("migrate-budget-meters", str(path), "--dso", "RESA", "--dry-run", stdout=out)
    text = out.getvalue()
    assert "line 12:" in text and "line 13:" not in text
    assert "29 would be migrated" in text and not SupplyPoint.objects.exists()


@pytest.mark.parametrize(
    "data",
    [b"", b"\xff\xfe\x00a", b"ean;last_name\n5414480000000000\n", b"ean;\x00"],
    ids=["empty", "not-utf8", "missing-columns", "nul"],
)
def test_an_unreadable_file_writes_nothing(ready, data):
    with pytest.raises(MigrationFileError):
        services.migrate(data, "RESA")
    assert not SupplyPoint.objects.exists()


@pytest.mark.parametrize(
    "text,cents",
    [
        ("12,50", 1250),
        ("-30.00", -3000),
        ("€ 7", 700),
        ("0", 0),
        ("1.5", 150),
        ("12,345", None),
        ("1.234,56", None),
        ("abc", None),
        ("", None),
        ("--5", None),
    ],
)
def test_amounts(text, cents):
    assert parse_amount(text) == cents


def test_the_daily_close_recovers_a_carried_debt_at_the_dsos_daily_amount(ready, make_tariff):
    from solde.prepayment.close import close_day
    from solde.prepayment.models import DayCharge
    from tests.prepayment.helpers import activated, meter_of, midnight
    from tests.prepayment.test_close import D, daily

    make_tariff("0.10")
    Dso.objects.filter(code="RESA").update(
        advance_electricity_cents=250, advance_recovery_cents_per_day=100
    )
    data, rows = make_file(n=1, bad=False)
    row = rows[2]
    row["balance_eur"] = "-1,50"
    data = (HEADER + "\n" + ";".join(row.values()) + "\n").encode()
    services.migrate(data, "RESA")
    sp = SupplyPoint.objects.get(ean=row["ean"])
    acc = activated(sp, midnight("2026-11-22"))
    assert acc.advance_account.balance_cents == -250 - 150  # advance and debt outstanding
    daily(meter_of(sp), "1.8.1", "2026-11-22", [0] * 7)
    daily(meter_of(sp), "1.8.2", "2026-11-22", [0] * 7)
    close_day(D("2026-11-27"))
    recoveries = list(DayCharge.objects.order_by("day").values_list("recovery_cents", flat=True))
    assert recoveries == [0, 100, 100, 100, 100, 0]  # 1 €/day until 4 € are back
    acc.refresh_from_db()
    assert acc.advance_account.balance_cents == 0
    assert acc.balance_account.balance_cents == 250 - 400
    assert verify().ok
