"""Ledger transactions and entries become append-only in the database itself: UPDATE and DELETE
are refused by triggers — django-pgtrigger's `append_only` on PostgreSQL, plain
RAISE(ABORT) triggers on SQLite (solde.ledger.triggers). See docs/decisions/0003."""

import pgtrigger.compiler
import pgtrigger.migrations
from django.db import migrations

from solde.ledger import triggers


def sqlite_install(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for sql in triggers.sqlite_create():
            schema_editor.execute(sql)


def sqlite_remove(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for sql in triggers.sqlite_drop():
            schema_editor.execute(sql)


class Migration(migrations.Migration):

    dependencies = [
        ('ledger', '0002_collections_balance_on_read'),
    ]

    operations = [
        pgtrigger.migrations.AddTrigger(
            model_name='entry',
            trigger=pgtrigger.compiler.Trigger(name='append_only', sql=pgtrigger.compiler.UpsertTriggerSql(func="RAISE EXCEPTION 'pgtrigger: Cannot update or delete rows from % table', TG_TABLE_NAME;", hash='bd80cdea55986d8dc4a873a0796f1dd071e72f1d', operation='UPDATE OR DELETE', pgid='pgtrigger_append_only_af900', table='ledger_entry', when='BEFORE')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='transaction',
            trigger=pgtrigger.compiler.Trigger(name='append_only', sql=pgtrigger.compiler.UpsertTriggerSql(func="RAISE EXCEPTION 'pgtrigger: Cannot update or delete rows from % table', TG_TABLE_NAME;", hash='bd4c0e5ce9c8764f30f711e037ad19e8262e827b', operation='UPDATE OR DELETE', pgid='pgtrigger_append_only_d75d5', table='ledger_transaction', when='BEFORE')),
        ),
        migrations.RunPython(sqlite_install, sqlite_remove),
    ]
