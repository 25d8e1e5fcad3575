"""API keys: `solde_<prefix>_<secret>`; looked up by prefix, checked by keyed hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Iterable

from django.conf import settings
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


# Keys verified lately, per process: sha256(plaintext) → (monotonic expiry, key, with its
# partner once read). A busy integrator's requests then skip the key's and the partner's
# queries. Only good keys are kept (a wrong key always asks the database), for
# SOLDE_API_KEY_CACHE_SECONDS; a revocation, a changed scope or a suspended partner is seen at
# once by the process that made the change and within those seconds by every other one.
_verified: dict[str, tuple[float, ApiKey]] = {}
_VERIFIED_MAX = 1024


def verified_key(plaintext: str) -> ApiKey | None:
    """`find_key`, remembered for a few seconds (the API's authentication)."""
    ttl = settings.API_KEY_CACHE_SECONDS
    if ttl <= 0:
        return find_key(plaintext)
    token = hashlib.sha256(plaintext.encode()).hexdigest()
    now = time.monotonic()
    hit = _verified.get(token)
    if hit is not None and hit[0] > now:
        return hit[1]
    key = find_key(plaintext)
    if key is None:
        _verified.pop(token, None)
        return None
    if len(_verified) >= _VERIFIED_MAX:
        _verified.clear()
    _verified[token] = (now + ttl, key)
    return key


def forget_verified_keys() -> None:
    _verified.clear()


def forget_changed_key(sender, **kwargs) -> None:
    """post_save of a key or a partner: forget the verified keys now and once committed."""
    forget_verified_keys()
    transaction.on_commit(forget_verified_keys)


@transaction.atomic
def revoke_keys(ids: Iterable[int]) -> int:
    """Revoke keys: they stop working at once in this process, and within
    SOLDE_API_KEY_CACHE_SECONDS in the other web processes. Already revoked ones stay as
    they were."""
    from solde import clock

    forget_verified_keys()
    # Again once committed: a request of another thread may have verified it meanwhile.
    transaction.on_commit(forget_verified_keys)
    return ApiKey.objects.filter(pk__in=list(ids), revoked_at__isnull=True).update(
        revoked_at=clock.now()
    )
