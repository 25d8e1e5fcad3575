from django.db import models


class SimulatedClock(models.Model):
    """The simulation clock shared by every process (one row)."""

    anchor_real = models.DateTimeField()
    anchor_simulated = models.DateTimeField()
    speed = models.FloatField(default=1.0)


class ScheduledRun(models.Model):
    """The last instant up to which a scheduled job has run (see solde.schedule)."""

    job = models.CharField(max_length=80, unique=True)
    ran_until = models.DateTimeField()
