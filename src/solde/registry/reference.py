"""Reference data every platform has: the DSOs RESA and ORES with RULES.md's defaults.

Migration 0002 creates them on a new database; tests that flush the database (transactional
tests) put them back with `ensure_reference_data`.
"""

from datetime import date
from decimal import Decimal

DSOS = [("RESA", "RESA (Liège)"), ("ORES", "ORES (Wallonie)")]


def ensure_reference_data() -> None:
    from solde.registry.models import Dso, GasConversionFactor

    for code, name in DSOS:
        dso, _ = Dso.objects.get_or_create(code=code, defaults={"name": name})
        GasConversionFactor.objects.get_or_create(
            dso=dso, valid_from=date(2000, 1, 1), defaults={"kwh_per_m3": Decimal("10.5")}
        )
