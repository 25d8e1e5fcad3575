from __future__ import annotations

from typing import cast

from django.http import HttpRequest
from ninja.security import HttpBearer

from solde.api.errors import ApiError
from solde.api.keys import find_key
from solde.api.models import ApiKey


class ScopedKey(HttpBearer):
    """Bearer key auth: no or bad key → 401; a key without the scope → 403."""

    def __init__(self, scope: str):
        super().__init__()
        self.scope = scope

    def authenticate(self, request: HttpRequest, token: str):
        key = find_key(token)
        if key is None:
            return None
        if self.scope not in key.scopes:
            raise ApiError(
                403, "forbidden", f"This API key does not have the '{self.scope}' scope."
            )
        return key


class AuthenticatedRequest(HttpRequest):
    """A request behind ScopedKey: django-ninja sets `auth` to what authenticate() returned,
    an attribute HttpRequest's type stubs do not declare."""

    auth: ApiKey


def request_key(request: HttpRequest) -> ApiKey:
    """The API key that authenticated this request (for views behind `scoped(...)`)."""
    return cast(AuthenticatedRequest, request).auth


def scoped(scope: str) -> ScopedKey:
    return ScopedKey(scope)
