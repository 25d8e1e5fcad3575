"""What the portal owns: activation codes, failed code attempts, notices a customer has read."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ActivationCode(models.Model):
    """A single-use code that lets the holder of the letter create their portal account.

    Only a keyed hash is stored (identifiers.hash_secret of the normalised code).
    """

    supply_point = models.ForeignKey(
        "registry.SupplyPoint", on_delete=models.CASCADE, related_name="activation_codes"
    )
    code_hash = models.CharField(max_length=64, unique=True)
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    used_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"activation code of {self.supply_point_id}"


class NoticeRead(models.Model):
    """A notice (e.g. the "Prépaiement activé" banner) the customer marked as read."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="portal_notices"
    )
    notice = models.CharField(max_length=60)
    read_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "notice"], name="uniq_notice_read")]
