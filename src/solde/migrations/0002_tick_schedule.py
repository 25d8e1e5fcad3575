"""The django-q2 schedule that drives solde.schedule: solde.tasks.tick every minute."""

from django.db import migrations


def create(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name="solde-tick",
        defaults={"func": "solde.tasks.tick", "schedule_type": "I", "minutes": 1, "repeats": -1},
    )


def remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name="solde-tick").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("solde", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create, remove)]
