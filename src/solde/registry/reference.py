"""Reference data every platform has: the DSOs RESA and ORES with RULES.md's defaults.

Migration 0002 creates them on a new database (with its historical models); tests that flush
the database (transactional tests) put them back with the current ones.
"""

from datetime import date
from decimal import Decimal

from django.apps import apps as current_apps

DSOS = [("RESA", "RESA (Liège)"), ("ORES", "ORES (Wallonie)")]


def ensure_reference_data(apps=current_apps) -> None:
    Dso = apps.get_model("registry", "Dso")
    Factor = apps.get_model("registry", "GasConversionFactor")
    for code, name in DSOS:
        dso, _ = Dso.objects.get_or_create(code=code, defaults={"name": name})
        Factor.objects.get_or_create(
            dso=dso, valid_from=date(2000, 1, 1), defaults={"kwh_per_m3": Decimal("10.5")}
        )
