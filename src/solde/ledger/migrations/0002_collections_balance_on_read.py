"""Collections accounts: balance summed on read, no longer stored (the hot row of every top-up).
Their stored balance goes to 0, which ledger.services.verify now expects; backwards, the stored
balance is their entries' sum again."""

from django.db import migrations
from django.db.models import Sum

KINDS = ["collections"]


def forwards(apps, schema_editor):
    LedgerAccount = apps.get_model("ledger", "LedgerAccount")
    LedgerAccount.objects.filter(kind__in=KINDS).update(balance_cents=0)


def backwards(apps, schema_editor):
    LedgerAccount = apps.get_model("ledger", "LedgerAccount")
    Entry = apps.get_model("ledger", "Entry")
    for acc in LedgerAccount.objects.filter(kind__in=KINDS):
        total = Entry.objects.filter(account=acc).aggregate(s=Sum("amount_cents"))["s"] or 0
        LedgerAccount.objects.filter(pk=acc.pk).update(balance_cents=total)


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
