import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0003_dso_ean_prefixes"),
    ]

    operations = [
        migrations.AddField(
            model_name="dso",
            name="raw_readings_retention_months",
            field=models.PositiveIntegerField(
                default=36,
                help_text="Months of raw index readings kept before this month (daily figures stay).",
                validators=[django.core.validators.MinValueValidator(1)],
            ),
        ),
    ]
