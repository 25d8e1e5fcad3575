"""Index readings as received, and the rows refused with their reason."""

from __future__ import annotations

from django.db import models


class RejectReason(models.TextChoices):
    UNKNOWN_EAN = "unknown_ean", "Unknown EAN"
    UNKNOWN_METER = "unknown_meter", "Unknown meter"
    UNKNOWN_REGISTER = "unknown_register", "Unknown register"
    UNIT_MISMATCH = "unit_mismatch", "Unit mismatch"
    FUTURE = "future", "In the future"
    CONFLICT = "conflict", "Conflicts with a reading already received"
    INDEX_DECREASE = "index_decrease", "Index lower than an earlier index"
    IMPLAUSIBLE = "implausible", "Implausible jump"
    INVALID = "invalid", "Malformed row"


class Reading(models.Model):
    """A cumulative index. `value_milli` is thousandths of the register's unit (Wh, litres)."""

    # No database-level foreign key and no index of its own: the unique (meter, register, at)
    # index serves every lookup by meter, and ingestion — the only writer — resolves each
    # meter before writing. A per-row foreign-key check was the largest single cost of a bulk
    # COPY (about 8 µs a row on PostgreSQL); PROTECT still guards deletes made through Django.
    meter = models.ForeignKey(
        "registry.Meter",
        on_delete=models.PROTECT,
        related_name="readings",
        db_constraint=False,
        db_index=False,
    )
    register = models.CharField(max_length=10)
    at = models.DateTimeField()
    value_milli = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["meter", "register", "at"], name="uniq_reading")
        ]


class RejectedReading(models.Model):
    """A row refused at ingestion, kept for review."""

    received_at = models.DateTimeField(db_index=True)
    source = models.CharField(max_length=200, blank=True)  # "api:<key name>", "file:<name>"
    row_index = models.IntegerField()
    ean = models.CharField(max_length=40, blank=True)
    meter = models.CharField(max_length=40, blank=True)
    register = models.CharField(max_length=20, blank=True)
    at = models.CharField(max_length=40, blank=True)
    value = models.CharField(max_length=40, blank=True)
    unit = models.CharField(max_length=10, blank=True)
    reason = models.CharField(max_length=20, choices=RejectReason.choices, db_index=True)
    detail = models.CharField(max_length=300)
    reviewed = models.BooleanField(default=False)


class DailyIndex(models.Model):
    """A charged register's indexes at the bounds of a closed day and its consumption.

    Written by the daily close for each meter segment it charged (midnight to midnight, or from
    an installation/activation or to a removal within the day). The compact history that stays
    for the life of the account: raw quarter-hourly readings go after the DSO's retention.
    Values are thousandths of the register's unit, rounded half-even from the exact
    (possibly interpolated) value; the exact kWh charged stay in DayCharge.kwh."""

    meter = models.ForeignKey(
        "registry.Meter",
        on_delete=models.PROTECT,
        related_name="daily_indexes",
        db_constraint=False,
        db_index=False,
    )
    register = models.CharField(max_length=10)
    day = models.DateField()
    start_milli = models.BigIntegerField()
    end_milli = models.BigIntegerField()
    consumption_milli = models.BigIntegerField()
    interpolated = models.BooleanField(default=False)  # a bound lies between two readings

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["meter", "register", "day"], name="uniq_daily_index")
        ]
