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


class Attempt(models.Model):
    """One attempt counted against a limit (solde.throttle): a wrong activation code, a password
    reset, a phone-line lookup. `key` is a keyed hash of who or what is limited (an address, a
    session, an e-mail), never the value itself."""

    scope = models.CharField(max_length=40)
    key = models.CharField(max_length=64)
    at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["scope", "key", "at"])]
