"""Scheduled jobs record their failures (attempts, traceback, retry time) beside their progress."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("solde", "0002_tick_schedule")]

    operations = [
        migrations.AlterModelOptions(name="scheduledrun", options={"ordering": ["job"]}),
        migrations.AddField(
            model_name="scheduledrun",
            name="last_success_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="scheduledrun",
            name="attempts",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="scheduledrun",
            name="failing_instant",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="scheduledrun",
            name="last_failure_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="scheduledrun",
            name="last_error",
            field=models.TextField(blank=True),
        ),
        migrations.AddField(
            model_name="scheduledrun",
            name="retry_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
