from django.db import models
from django.utils.translation import gettext_lazy as _


class SimulatedClock(models.Model):
    """The simulation clock shared by every process (one row)."""

    anchor_real = models.DateTimeField()
    anchor_simulated = models.DateTimeField()
    speed = models.FloatField(default=1.0)


class ScheduledRun(models.Model):
    """A scheduled job's progress and health (see solde.schedule): the instant up to which it
    has run, and its current run of failures (attempts, traceback, when it is tried again)."""

    job = models.CharField(max_length=80, unique=True)
    ran_until = models.DateTimeField()
    last_success_at = models.DateTimeField(null=True, blank=True)  # platform time
    # Failures since the last success; 0 when healthy. The due instant that failed is the
    # first one after `ran_until`.
    attempts = models.PositiveIntegerField(default=0)
    failing_instant = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)  # the traceback of the last failure
    retry_at = models.DateTimeField(null=True, blank=True)  # not tried again before this

    class Meta:
        ordering = ["job"]

    def __str__(self) -> str:
        return self.job

    @property
    def failing(self) -> bool:
        return self.attempts > 0


class Attempt(models.Model):
    """One attempt counted against a limit (solde.throttle): a wrong activation code, a password
    reset, a phone-line lookup. `key` is a keyed hash of who or what is limited (an address, a
    session, an e-mail), never the value itself."""

    scope = models.CharField(max_length=40)
    key = models.CharField(max_length=64)
    at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["scope", "key", "at"])]


class WorkStatus(models.TextChoices):
    PENDING = "pending", _("À faire")
    DONE = "done", _("Fait")
    DEAD = "dead", _("En échec (à relancer)")


class WorkItem(models.Model):
    """Durable internal work (see solde.work): written in the transaction of its cause, drained
    by workers, done exactly once. A failure is kept with its traceback and retried with
    backoff; after too many it is `dead` until an operator retries it from the admin."""

    kind = models.CharField(max_length=60)
    # The cause's idempotency key: the same cause never makes two items.
    key = models.CharField(max_length=200, unique=True)
    # Items of one group are handled together, in one call and one transaction.
    group = models.CharField(max_length=200)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=7, choices=WorkStatus.choices, default=WorkStatus.PENDING)
    attempts = models.IntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    done_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        verbose_name = _("tâche interne")
        verbose_name_plural = _("tâches internes")
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["group", "status"]),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.key} ({self.status})"
