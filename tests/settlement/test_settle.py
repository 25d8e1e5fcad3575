"""Supplier statements: lines, reversals in the next statement, states, ledger, exports."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from pathlib import Path

import pytest
import xmlschema
from django.core.management import call_command

from solde import clock
from solde.ledger.services import account, balance_of, collections_account, verify
from solde.registry.models import Supplier, SupplierAssignment
from solde.settlement import services
from solde.settlement.models import Statement
from solde.topups import services as topups

pytestmark = pytest.mark.django_db
XSD = Path(services.__file__).with_name("settlement.xsd")


def test_one_statement_per_supplier_with_lines_totals_and_ledger(active_sp):
    a = active_sp()
    b = active_sp(supplier="SUPPLIER-B")
    topups.credit_topup(a.account, 2000, channel="retail", external_id="r1")
    topups.credit_topup(a.account, 5000, channel="online", external_id="tr_1")
    topups.credit_topup(b.account, 1500, channel="terminal", external_id="t1")
    report = services.settle("week", clock.today())
    assert len(report.statements) == 2
    sa = Statement.objects.get(supplier__code="SUPPLIER-A")
    assert sa.status == "draft" and sa.total_cents == 7000
    assert sa.totals == {"online": 5000, "retail": 2000}
    assert [(ln.ean, ln.channel, ln.amount_cents) for ln in sa.lines.order_by("pk")] == [
        (a.ean, "retail", 2000),
        (a.ean, "online", 5000),
    ]
    # settling again adds nothing
    assert services.settle("week", clock.today()).new_lines == 0
    services.issue_statement(sa)
    assert account("supplier_payable:SUPPLIER-A", "supplier_payable").balance_cents == -7000
    assert balance_of(collections_account("online")) == 0
    services.mark_paid(sa)
    assert account("supplier_payable:SUPPLIER-A", "supplier_payable").balance_cents == 0
    assert account("cash:suppliers", "cash").balance_cents == -7000
    sa.refresh_from_db()
    assert sa.status == "paid" and sa.number.startswith("SUPPLIER-A-")
    assert verify().ok


def test_reversal_after_issue_is_a_negative_line_in_the_next_statement(active_sp, frozen):
    a = active_sp()
    t, _ = topups.credit_topup(a.account, 2000, channel="online", external_id="tr_9")
    first = services.settle("day", clock.today(), issue=True).statements[0]
    clock.advance(timedelta(days=1))
    topups.reverse_topup(t, None, "chargeback", key="cb:tr_9")
    topups.credit_topup(a.account, 1000, channel="retail", external_id="r2")
    second = services.settle("day", clock.today()).statements[0]
    assert second.pk != first.pk
    assert sorted(second.lines.values_list("kind", "amount_cents")) == [
        ("reversal", -2000),
        ("topup", 1000),
    ]
    assert second.total_cents == -1000
    first.refresh_from_db()
    assert first.lines.count() == 1 and first.total_cents == 2000  # never changes
    services.issue_statement(second)
    assert balance_of(collections_account("online")) == 0
    assert verify().ok


def test_topup_owed_to_the_supplier_of_its_date(active_sp, frozen):
    a = active_sp()
    topups.credit_topup(a.account, 2000, channel="retail", external_id="before")
    new = Supplier.objects.create(code="SUPPLIER-C", name="C")
    SupplierAssignment.objects.create(
        supply_point=a, supplier=new, valid_from=clock.today() + timedelta(days=1)
    )
    clock.advance(timedelta(days=1))
    topups.credit_topup(a.account, 3000, channel="retail", external_id="after")
    stmts = {
        s.supplier.code: s.total_cents for s in services.settle("week", clock.today()).statements
    }
    assert stmts == {"SUPPLIER-A": 2000, "SUPPLIER-C": 3000}


def test_until_excludes_later_topups(active_sp, frozen):
    a = active_sp()
    topups.credit_topup(a.account, 2000, channel="retail", external_id="x")
    assert services.settle("week", clock.today() - timedelta(days=1)).new_lines == 0


def test_exports_csv_and_xml_valid_against_the_schema(active_sp):
    a = active_sp()
    t, _ = topups.credit_topup(a.account, 2000, channel="cpas", external_id="c1")
    topups.reverse_topup(t, 500, "refund", key="r")
    s = services.issue_statement(services.settle("month", clock.today()).statements[0])
    rows = list(csv.DictReader(io.StringIO(services.export_csv(s))))
    assert [(r["kind"], r["amount_eur"]) for r in rows] == [
        ("topup", "20.00"),
        ("reversal", "-5.00"),
        ("total", "15.00"),
        ("total", "15.00"),
    ]
    assert rows[0]["ean"] == a.ean and rows[0]["date"] == clock.today().isoformat()
    xml = services.export_xml(s)
    schema = xmlschema.XMLSchema(str(XSD))
    schema.validate(xml.decode())
    assert b"<Total>15.00</Total>" in xml


def test_settle_command(active_sp, capsys):
    a = active_sp()
    topups.credit_topup(a.account, 2000, channel="retail", external_id="x")
    call_command("settle", "--period", "week", "--until", clock.today().isoformat(), "--issue")
    out = capsys.readouterr().out
    assert "SUPPLIER-A" in out and "issued" in out and "20.00" in out
    assert Statement.objects.get().status == "issued"


def test_bad_period_is_refused():
    with pytest.raises(services.SettlementError):
        services.settle("year", date(2026, 11, 28))


def test_scheduled_job_drafts_weekly_statements_on_monday(active_sp, frozen, at):
    from solde import schedule

    a = active_sp()
    topups.credit_topup(a.account, 2000, channel="retail", external_id="x")  # Sat 28 Nov
    job = next(j for j in schedule.JOBS if j.name == "settlement.draft_statements")
    sunday = job.due_between(at("2026-11-29 00:00"), at("2026-11-29 23:00"))
    job.run(sunday[0])
    assert not Statement.objects.exists()
    monday = job.due_between(at("2026-11-30 00:00"), at("2026-11-30 23:00"))
    job.run(monday[0])
    s = Statement.objects.get()
    assert s.status == "draft" and s.period_end == date(2026, 11, 29)
