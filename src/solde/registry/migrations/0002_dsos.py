"""RESA and ORES exist from the first migration, with the defaults of RULES.md."""

from datetime import date
from decimal import Decimal

from django.db import migrations

DSOS = [("RESA", "RESA (Liège)"), ("ORES", "ORES (Wallonie)")]


def create(apps, schema_editor):
    Dso = apps.get_model("registry", "Dso")
    Factor = apps.get_model("registry", "GasConversionFactor")
    for code, name in DSOS:
        dso, _ = Dso.objects.get_or_create(code=code, defaults={"name": name})
        Factor.objects.get_or_create(
            dso=dso, valid_from=date(2000, 1, 1), defaults={"kwh_per_m3": Decimal("10.5")}
        )


class Migration(migrations.Migration):
    dependencies = [("registry", "0001_initial")]
    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
