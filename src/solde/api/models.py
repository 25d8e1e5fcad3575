from __future__ import annotations

from django.db import models


class Scope(models.TextChoices):
    REGISTRY = "registry", "registry"
    READINGS = "readings", "readings"
    TOPUPS = "topups", "topups"
    OPERATIONS = "operations", "operations"
    READ = "read", "read"
    PHONELINE = "phoneline", "phoneline"  # an IVR reading balances (GET /phoneline/)


class ApiKey(models.Model):
    """An integrator's key. Only a keyed hash is stored; the key is shown once at creation."""

    name = models.CharField(max_length=100, unique=True)
    prefix = models.CharField(max_length=12, unique=True)
    key_hash = models.CharField(max_length=64)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"

    def __str__(self) -> str:
        return self.name
