from __future__ import annotations

import time
from datetime import timedelta
from typing import cast

from django.http import HttpRequest
from ninja.security import HttpBearer

from solde import clock
from solde.api.errors import ApiError
from solde.api.keys import verified_key
from solde.api.models import ApiKey


class ScopedKey(HttpBearer):
    """Bearer key auth: no or bad key → 401; a key without the scope → 403."""

    def __init__(self, scope: str):
        super().__init__()
        self.scope = scope

    def authenticate(self, request: HttpRequest, token: str):
        key = verified_key(token)
        if key is None:
            return None
        if self.scope not in key.scopes:
            raise ApiError(
                403, "forbidden", f"This API key does not have the '{self.scope}' scope."
            )
        note_use(key)
        return key


USE_RESOLUTION = timedelta(minutes=1)
# Per process: when (monotonic seconds) each key was last compared with the clock here. In
# simulation mode reading the clock is a query; a key already stamped is looked at again only
# a resolution later.
_checked: dict[int, float] = {}


def note_use(key: ApiKey) -> None:
    """Stamp `last_used_at` (so operators see dormant keys), at most once a minute per key:
    no write on every request of a busy integrator."""
    checked = _checked.get(key.pk)
    if (
        key.last_used_at is not None
        and checked is not None
        and time.monotonic() - checked < USE_RESOLUTION.total_seconds()
    ):
        return
    now = clock.now()
    if key.last_used_at is None or now - key.last_used_at >= USE_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    _checked[key.pk] = time.monotonic()


class AuthenticatedRequest(HttpRequest):
    """A request behind ScopedKey: django-ninja sets `auth` to what authenticate() returned,
    an attribute HttpRequest's type stubs do not declare."""

    auth: ApiKey


def request_key(request: HttpRequest) -> ApiKey:
    """The API key that authenticated this request (for views behind `scoped(...)`)."""
    return cast(AuthenticatedRequest, request).auth


def scoped(scope: str) -> ScopedKey:
    return ScopedKey(scope)
