"""API keys: `solde_<prefix>_<secret>`; looked up by prefix, checked by keyed hash."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterable

from django.db import transaction

from solde.api.models import ApiKey, Scope
from solde.identifiers import hash_secret, secret_hashes

PARTNER_CHANNELS = ("terminal", "retail", "cpas")


class InvalidScope(ValueError):
    pass


@transaction.atomic
def create_key(name: str, scopes: Iterable[str], channel: str = "") -> tuple[ApiKey, str]:
    """Create a key; returns it with the plaintext, which is never stored. A `topups` key with
    a `channel` (terminal, retail, cpas) is a partner collecting for that channel."""
    scopes = sorted(set(scopes))
    unknown = set(scopes) - set(Scope.values)
    if unknown or not scopes:
        raise InvalidScope(
            f"Unknown or missing scope {sorted(unknown)}: choose from {', '.join(Scope.values)}."
        )
    prefix = secrets.token_hex(4)
    plaintext = f"solde_{prefix}_{secrets.token_urlsafe(24)}"
    if channel and (Scope.TOPUPS not in scopes or channel not in PARTNER_CHANNELS):
        raise InvalidScope(
            f"A channel goes with the 'topups' scope and is one of {', '.join(PARTNER_CHANNELS)}."
        )
    key = ApiKey.objects.create(
        name=name, prefix=prefix, key_hash=hash_secret(plaintext), scopes=scopes
    )
    if channel:
        from solde.topups.models import Partner

        Partner.objects.create(name=name, channel=channel, api_key=key)
    return key, plaintext


def find_key(plaintext: str) -> ApiKey | None:
    parts = plaintext.split("_")
    if len(parts) < 3 or parts[0] != "solde":
        return None
    key = ApiKey.objects.filter(prefix=parts[1], revoked_at__isnull=True).first()
    if key is None:
        return None
    # The current hash key first, then the fallbacks of a rotation in progress.
    matches = [hmac.compare_digest(key.key_hash, h) for h in secret_hashes(plaintext)]
    return key if any(matches) else None


@transaction.atomic
def revoke_keys(ids: Iterable[int]) -> int:
    """Revoke keys (they stop working at once); already revoked ones stay as they were."""
    from solde import clock

    return ApiKey.objects.filter(pk__in=list(ids), revoked_at__isnull=True).update(
        revoked_at=clock.now()
    )
