from __future__ import annotations

import csv
import io
from datetime import date

import pytest

from solde import clock
from solde.prepayment.models import DayCharge
from solde.registry.models import Supplier
from solde.settlement import regularisation
from solde.settlement.services import SettlementError
from solde.topups import services as topups

pytestmark = pytest.mark.django_db


def test_consumption_value_payments_and_difference(active_sp, make_tariff):
    a = active_sp()
    make_tariff("0.30000", register="1.8.1")
    make_tariff("0.20000")
    for d, peak, night in (
        (date(2026, 11, 20), "10.000", "5.000"),
        (date(2026, 11, 21), "2.500", "0.000"),
    ):
        DayCharge.objects.create(
            account=a.account,
            day=d,
            kwh={"1.8.1": peak, "1.8.2": night},
            charge_cents=0,
            closed_at=clock.now(),
        )
    topups.credit_topup(a.account, 2000, channel="retail", external_id="x")
    sup = Supplier.objects.get(code="SUPPLIER-A")
    regularisation.import_supplier_prices(
        sup, "energy,register,valid_from,price_eur_per_kwh\nelectricity,,2026-01-01,0.25000\n"
    )
    rows = list(
        csv.DictReader(
            io.StringIO(regularisation.export_csv(sup, date(2026, 11, 1), date(2026, 11, 30)))
        )
    )
    by_reg = {r["register"]: r for r in rows}
    assert by_reg["1.8.1"]["kwh"] == "12.500"
    assert by_reg["1.8.1"]["prepayment_value_eur"] == "3.75"
    assert by_reg["1.8.2"]["prepayment_value_eur"] == "1.00"
    assert by_reg["1.8.1"]["supplier_value_eur"] == "3.13"  # 3.125 half up
    assert by_reg["total"]["payments_collected_eur"] == "20.00"
    # (3.13 + 1.25) − (3.75 + 1.00): the supplier owes the customer 0.37 €
    assert by_reg["total"]["difference_eur"] == "-0.37"


def test_bad_price_file_is_refused():
    sup = Supplier.objects.create(code="S", name="S")
    with pytest.raises(SettlementError, match="Line 2"):
        regularisation.import_supplier_prices(
            sup, "energy,register,valid_from,price_eur_per_kwh\nwater,,2026-01-01,1\n"
        )
    with pytest.raises(SettlementError, match="columns"):
        regularisation.import_supplier_prices(sup, "a,b\n1,2\n")
