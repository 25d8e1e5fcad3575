"""RESA and ORES exist from the first migration, with the defaults of RULES.md."""

from django.db import migrations

from solde.registry.reference import ensure_reference_data


def create(apps, schema_editor):
    ensure_reference_data(apps)


class Migration(migrations.Migration):
    dependencies = [("registry", "0001_initial")]
    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
