"""What the operator console owns: the record of each operator action (who, when, what, why),
the requests waiting for a second person (four eyes) and the adjustment limits per role."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django_otp.models import Device, ThrottlingMixin


class ActionKind(models.TextChoices):
    ADJUSTMENT = "adjustment", _("Ajustement du solde")
    ADJUSTMENT_REQUESTED = "adjustment_requested", _("Ajustement demandé (quatre yeux)")
    ADJUSTMENT_APPROVED = "adjustment_approved", _("Ajustement approuvé")
    ADJUSTMENT_REFUSED = "adjustment_refused", _("Ajustement refusé")
    REISSUE_CODE = "reissue_code", _("Nouveau code d'activation")
    PAUSE_INTERRUPTIONS = "pause_interruptions", _("Interruptions suspendues")
    RESUME_INTERRUPTIONS = "resume_interruptions", _("Interruptions de nouveau permises")
    ORDER = "order", _("Ordre au compteur")
    RESEND_MESSAGE = "resend_message", _("Message renvoyé")
    CONTACT = "contact", _("Coordonnées corrigées")
    SUSPENSE_MATCHED = "suspense_matched", _("Virement en attente attribué")
    HELD_RUN_REQUESTED = "held_run_requested", _("Décision sur une coupure massive demandée")
    HELD_RUN_RELEASED = "held_run_released", _("Coupure massive confirmée")
    HELD_RUN_REJECTED = "held_run_rejected", _("Coupure massive annulée")
    HELD_RUN_REFUSED = "held_run_refused", _("Demande sur une coupure massive refusée")
    HELD_LINE_REQUESTED = "held_line_requested", _("Libération d'un virement retenu demandée")
    HELD_LINE_RELEASED = "held_line_released", _("Virement retenu libéré")
    HELD_LINE_REFUSED = "held_line_refused", _("Libération d'un virement retenu refusée")
    ERASURE = "erasure", _("Données personnelles effacées (RGPD)")
    BUDGET_MIGRATION = "budget_migration", _("Clients des compteurs à budget importés")
    READINGS_REVIEWED = "readings_reviewed", _("Relevés refusés marqués revus")
    READINGS_REVIEW_UNDONE = "readings_review_undone", _("Revue de relevés refusés annulée")
    TWO_FACTOR_ENROLLED = "two_factor_enrolled", _("Second facteur enregistré")
    TWO_FACTOR_FAILED = "two_factor_failed", _("Code du second facteur erroné")
    TWO_FACTOR_LOCKED = "two_factor_locked", _("Second facteur bloqué (trop d'essais)")
    RECOVERY_CODES_ISSUED = "recovery_codes_issued", _("Codes de secours émis")
    RECOVERY_CODE_USED = "recovery_code_used", _("Code de secours utilisé")


class OperatorAction(models.Model):
    """One operator action: who, when, what, why. Written in the action's own transaction;
    the field-level changes are in django-auditlog's entries of the same request."""

    at = models.DateTimeField(db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=30, choices=ActionKind.choices)
    reason = models.TextField()
    customer = models.ForeignKey(
        "registry.Customer",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="operator_actions",
    )
    supply_point = models.ForeignKey(
        "registry.SupplyPoint",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="operator_actions",
    )
    # What the action made or touched ("order 12", "adjustment 7"…) and its details.
    summary = models.CharField(max_length=300)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("action d'un opérateur")
        verbose_name_plural = _("actions des opérateurs")
        indexes = [models.Index(fields=["customer", "at"])]
        permissions = [
            ("use_console", _("Utiliser la console (recherche, fiches client, files)")),
            ("view_dashboard", _("Voir le tableau de bord journalier")),
            ("adjust_balance", _("Ajuster un solde (dans sa limite)")),
            ("approve_adjustment", _("Approuver l'ajustement d'un autre opérateur")),
            ("reissue_code", _("Émettre un nouveau code d'activation")),
            ("pause_interruptions", _("Suspendre les interruptions d'un point de fourniture")),
            ("order_meter", _("Commander un rétablissement ou un affichage du solde")),
            ("resend_message", _("Renvoyer un message")),
            ("edit_contact", _("Corriger les coordonnées d'un client")),
            ("match_suspense", _("Attribuer un virement en attente")),
            ("decide_held_run", _("Confirmer ou annuler une coupure massive retenue")),
            (
                "release_held_line",
                _("Approuver la libération d'un virement retenu au-delà du plafond"),
            ),
            ("erase_customer", _("Effacer les données personnelles d'un client clôturé")),
            ("migrate_budget_meters", _("Importer les clients des compteurs à budget")),
            ("review_readings", _("Marquer des relevés refusés comme revus")),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.user} {self.kind}"


class RequestKind(models.TextChoices):
    ADJUSTMENT = "adjustment", _("Ajustement au-delà de la limite")
    RELEASE_HELD_RUN = "release_held_run", _("Confirmer une coupure massive")
    REJECT_HELD_RUN = "reject_held_run", _("Annuler une coupure massive")
    RELEASE_HELD_LINE = "release_held_line", _("Libérer un virement retenu")


class RequestStatus(models.TextChoices):
    PENDING = "pending", _("En attente d'un second opérateur")
    APPROVED = "approved", _("Approuvé et exécuté")
    REFUSED = "refused", _("Refusé")


class FourEyesRequest(models.Model):
    """An action that a second person must approve before it is carried out (four eyes):
    an adjustment above the requester's limit, the fate of a held mass cut, or the release of a
    bank line held above the per-line limit (to `account`)."""

    kind = models.CharField(max_length=20, choices=RequestKind.choices)
    status = models.CharField(
        max_length=10, choices=RequestStatus.choices, default=RequestStatus.PENDING
    )
    account = models.ForeignKey(
        "prepayment.PrepaymentAccount",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    held_run = models.ForeignKey(
        "prepayment.HeldRun", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    suspense_item = models.ForeignKey(
        "topups.SuspenseItem", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    adjustment_kind = models.CharField(max_length=10, blank=True)
    amount_cents = models.BigIntegerField(default=0)  # signed for an adjustment
    reason = models.TextField()
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField()
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    result = models.CharField(max_length=300, blank=True)

    class Meta:
        verbose_name = _("demande à approuver (quatre yeux)")
        verbose_name_plural = _("demandes à approuver (quatre yeux)")
        indexes = [models.Index(fields=["status", "kind"])]
        constraints = [
            # At most one open request per held run: two supervisors cannot race two answers.
            models.UniqueConstraint(
                fields=["held_run"],
                condition=models.Q(status="pending"),
                name="uniq_pending_held_run_request",
            ),
            # And per held bank line: one release waits for a supervisor at a time.
            models.UniqueConstraint(
                fields=["suspense_item"],
                condition=models.Q(status="pending"),
                name="uniq_pending_held_line_request",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.status})"


class AdjustmentLimit(models.Model):
    """How much an operator of a role may credit or debit alone (absolute cents); above it a
    second person approves. A row with a DSO wins over the role's row without one."""

    group = models.ForeignKey("auth.Group", on_delete=models.CASCADE, related_name="+")
    dso = models.ForeignKey(
        "registry.Dso", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    limit_cents = models.BigIntegerField()

    class Meta:
        verbose_name = _("limite d'ajustement")
        verbose_name_plural = _("limites d'ajustement")
        constraints = [
            models.UniqueConstraint(fields=["group", "dso"], name="uniq_adjustment_limit"),
            models.UniqueConstraint(
                fields=["group"], condition=models.Q(dso=None), name="uniq_adjustment_limit_role"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.group} {self.dso_id or '*'} {self.limit_cents / 100:.2f} €"


class RecoveryCodes(ThrottlingMixin, Device):
    """A staff member's one-time recovery codes, for the day the authenticator app is lost: a
    django-otp device (a valid code verifies the session like a TOTP code does) whose codes are
    stored only as keyed hashes (`solde.identifiers.hash_secret`), each usable once."""

    class Meta:
        verbose_name = _("codes de secours (second facteur)")
        verbose_name_plural = _("codes de secours (second facteur)")

    def get_throttle_factor(self) -> int:
        return getattr(settings, "OTP_TOTP_THROTTLE_FACTOR", 1)

    def remaining(self) -> int:
        return self.codes.filter(used_at__isnull=True).count()

    def verify_token(self, token) -> bool:
        from solde import clock
        from solde.identifiers import secret_hashes

        allowed, _detail = self.verify_is_allowed()
        if not allowed:
            return False
        text = normalize_recovery_code(str(token))
        # One UPDATE: two requests with the same code cannot both use it.
        used = self.codes.filter(code_hash__in=secret_hashes(text), used_at__isnull=True).update(
            used_at=clock.now()
        )
        if used:
            self.throttle_reset()
            return True
        self.throttle_increment()
        return False


class RecoveryCode(models.Model):
    device = models.ForeignKey(RecoveryCodes, on_delete=models.CASCADE, related_name="codes")
    code_hash = models.CharField(max_length=64, db_index=True)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("code de secours")
        verbose_name_plural = _("codes de secours")


def normalize_recovery_code(text: str) -> str:
    """As typed ('ABCDE-FGHIJ', 'abcde fghij') → as hashed ('abcdefghij')."""
    return "".join(c for c in text.lower() if c.isascii() and c.isalnum())


class ReadingReview(models.Model):
    """Rejected readings one operator marked reviewed in one action (its `OperatorAction` has the
    who, when and why). Undoing it puts back exactly these rows, not ones reviewed since."""

    action = models.OneToOneField(
        OperatorAction, on_delete=models.PROTECT, related_name="reading_review"
    )
    readings = models.ManyToManyField("readings.RejectedReading", related_name="+")
    count = models.IntegerField()
    # What the operator had chosen: "selection" or the queue's filter, for the history.
    scope = models.JSONField(default=dict, blank=True)
    undone_by = models.OneToOneField(
        OperatorAction,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="undid_reading_review",
    )

    class Meta:
        verbose_name = _("revue de relevés refusés")
        verbose_name_plural = _("revues de relevés refusés")

    def __str__(self) -> str:
        return f"review {self.pk}: {self.count} rejected readings"
