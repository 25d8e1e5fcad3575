"""Regularisation data for a supplier: per EAN and period, consumption per register, its value
at the prepayment tariff, the payments collected and — with the supplier's own prices — the
difference the supplier settles with the customer (RULES.md §5)."""

from __future__ import annotations

import csv
import io
from bisect import bisect_right
from collections import defaultdict
from datetime import date
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from django.db import transaction

from solde.money import eur_to_cents_exact, format_eur
from solde.prepayment.models import DayCharge
from solde.registry.models import Supplier, SupplierAssignment, Tariff
from solde.settlement.models import SupplierPrice
from solde.settlement.services import SettlementError
from solde.topups.models import Topup, TopupReversal

COLUMNS = [
    "ean",
    "customer_reference",
    "supplier",
    "from",
    "to",
    "register",
    "kwh",
    "prepayment_value_eur",
    "supplier_value_eur",
    "difference_eur",
    "payments_collected_eur",
]


@transaction.atomic
def import_supplier_prices(supplier: Supplier, text: str) -> int:
    """CSV `energy,register,valid_from,price_eur_per_kwh` (register empty = every register).
    A bad row refuses the whole file with its line number."""
    reader = csv.DictReader(io.StringIO(text))
    need = {"energy", "register", "valid_from", "price_eur_per_kwh"}
    if not reader.fieldnames or not need <= set(reader.fieldnames):
        raise SettlementError(f"The price file needs the columns: {', '.join(sorted(need))}.")
    rows = []
    for n, row in enumerate(reader, 2):
        try:
            energy = row["energy"].strip()
            if energy not in ("electricity", "gas"):
                raise ValueError("energy is electricity or gas")
            price = Decimal(row["price_eur_per_kwh"].strip())
            exponent = price.as_tuple().exponent  # a str for Infinity (NaN fails `< 0`)
            if price < 0 or not isinstance(exponent, int) or exponent < -5:
                raise ValueError("a price ≥ 0 with at most 5 decimals")
            rows.append(
                (
                    energy,
                    (row["register"] or "").strip(),
                    date.fromisoformat(row["valid_from"].strip()),
                    price,
                )
            )
        except (ValueError, InvalidOperation, AttributeError) as exc:
            raise SettlementError(f"Line {n} of the price file: {exc}.") from exc
    for energy, register, valid_from, price in rows:
        SupplierPrice.objects.update_or_create(
            supplier=supplier,
            energy=energy,
            register=register,
            valid_from=valid_from,
            defaults={"price_eur_per_kwh": price},
        )
    return len(rows)


class _Prices:
    """Price in force on a day for (key…, register), a register's own price winning."""

    def __init__(self, rows):
        self.table: dict[tuple, tuple[list[date], list[Decimal]]] = {}
        grouped: dict[tuple, list[tuple[date, Decimal]]] = defaultdict(list)
        for key, valid_from, price in rows:
            grouped[key].append((valid_from, price))
        for key, items in grouped.items():
            items.sort()
            self.table[key] = ([d for d, _ in items], [p for _, p in items])

    def at(self, key: tuple, register: str, day: date) -> Decimal | None:
        for k in ((*key, register), (*key, "")):
            if k in self.table:
                days, prices = self.table[k]
                i = bisect_right(days, day)
                if i:
                    return prices[i - 1]
        return None


def rows(supplier: Supplier, start: date, end: date) -> list[dict]:
    """The regularisation rows for every EAN the supplier served in [start, end]."""
    history: dict[int, list[tuple[date, int]]] = defaultdict(list)
    for sp_id, valid_from, sup_id in SupplierAssignment.objects.order_by(
        "supply_point_id", "valid_from"
    ).values_list("supply_point_id", "valid_from", "supplier_id"):
        history[sp_id].append((valid_from, sup_id))

    def supplier_on(sp_id: int, day: date) -> int | None:
        h = history.get(sp_id, [])
        i = bisect_right([d for d, _ in h], day)
        return h[i - 1][1] if i else None

    served = [sp for sp, h in history.items() if any(s == supplier.pk for _, s in h)]
    tariffs = _Prices(
        ((t.dso_id, t.energy, t.category, t.register), t.valid_from, t.price_eur_per_kwh)
        for t in Tariff.objects.all()
    )
    own = _Prices(
        ((p.energy, p.register), p.valid_from, p.price_eur_per_kwh)
        for p in SupplierPrice.objects.filter(supplier=supplier)
    )
    has_own = bool(own.table)
    kwh: dict[tuple[int, str], Fraction] = defaultdict(Fraction)
    value: dict[tuple[int, str], Fraction] = defaultdict(Fraction)
    theirs: dict[tuple[int, str], Fraction | None] = defaultdict(Fraction)
    info: dict[int, tuple] = {}
    charges = DayCharge.objects.filter(
        day__gte=start, day__lte=end, account__supply_point_id__in=served
    ).values_list(
        "day",
        "kwh",
        "account__supply_point_id",
        "account__supply_point__ean",
        "account__supply_point__customer_reference",
        "account__supply_point__dso_id",
        "account__supply_point__energy",
        "account__supply_point__tariff_category",
    )
    for day, by_register, sp_id, ean, ref, dso, energy, category in charges:
        if supplier_on(sp_id, day) != supplier.pk:
            continue
        info[sp_id] = (ean, ref)
        for register, text in (by_register or {}).items():
            q = Fraction(Decimal(text))
            k = (sp_id, register)
            kwh[k] += q
            price = tariffs.at((dso, energy, category), register, day)
            value[k] += q * Fraction(price or 0)
            mine = own.at((energy,), register, day) if has_own else None
            so_far = theirs[k]
            if mine is None or so_far is None:
                theirs[k] = None
            else:
                theirs[k] = so_far + q * Fraction(mine)
    paid: dict[int, int] = defaultdict(int)
    for sp_id, cents in Topup.objects.filter(
        supplier=supplier, day__gte=start, day__lte=end
    ).values_list("supply_point_id", "amount_cents"):
        paid[sp_id] += cents
    for sp_id, cents in TopupReversal.objects.filter(
        topup__supplier=supplier, day__gte=start, day__lte=end
    ).values_list("topup__supply_point_id", "amount_cents"):
        paid[sp_id] -= cents
    for sp_id in paid:
        if sp_id not in info:
            sp = Topup.objects.filter(supply_point_id=sp_id).select_related("supply_point").first()
            assert sp is not None  # paid[sp_id] came from this supply point's top-ups
            info[sp_id] = (sp.supply_point.ean, sp.supply_point.customer_reference)
    out = []
    for sp_id in sorted(info, key=lambda s: info[s][0]):
        ean, ref = info[sp_id]
        base = {
            "ean": ean,
            "customer_reference": ref,
            "supplier": supplier.code,
            "from": start.isoformat(),
            "to": end.isoformat(),
        }
        tot_kwh, tot_value, tot_theirs = Fraction(0), 0, 0
        complete = has_own
        for s, register in sorted(k for k in kwh if k[0] == sp_id):
            v = eur_to_cents_exact(value[(s, register)])
            t = theirs[(s, register)]
            tc = eur_to_cents_exact(t) if t is not None and has_own else None
            complete = complete and tc is not None
            tot_kwh += kwh[(s, register)]
            tot_value += v
            tot_theirs += tc or 0
            out.append(
                {
                    **base,
                    "register": register,
                    "kwh": _kwh(kwh[(s, register)]),
                    "prepayment_value_eur": format_eur(v),
                    "supplier_value_eur": format_eur(tc) if tc is not None else "",
                    "difference_eur": format_eur(tc - v) if tc is not None else "",
                    "payments_collected_eur": "",
                }
            )
        out.append(
            {
                **base,
                "register": "total",
                "kwh": _kwh(tot_kwh),
                "prepayment_value_eur": format_eur(tot_value),
                "supplier_value_eur": format_eur(tot_theirs) if complete else "",
                "difference_eur": format_eur(tot_theirs - tot_value) if complete else "",
                "payments_collected_eur": format_eur(paid.get(sp_id, 0)),
            }
        )
    return out


def _kwh(q: Fraction) -> str:
    return f"{Decimal(q.numerator) / Decimal(q.denominator):.3f}"


def export_csv(supplier: Supplier, start: date, end: date) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(rows(supplier, start, end))
    return buf.getvalue()
