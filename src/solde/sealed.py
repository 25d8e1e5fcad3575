"""Secrets that must be read back once (an activation code until its letter or e-mail is sent),
kept encrypted at rest with a key outside the database.

Fernet (AES-128-CBC + HMAC-SHA256) under a key derived from settings.HASH_KEY
(SOLDE_HASH_KEY, environment only); tokens sealed under one of HASH_KEY_FALLBACKS still open
after a rotation of the hash key. A copy of the database alone reveals nothing.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class Unreadable(ValueError):
    """A sealed value no current or fallback key opens (or that was tampered with)."""


def _fernet(key: str) -> Fernet:
    # A derived key, not HASH_KEY itself: the keyed hashes and the encryption never share a key.
    digest = hashlib.sha256(b"solde-sealed-v1:" + key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _keys() -> MultiFernet:
    from django.conf import settings

    keys = [settings.HASH_KEY, *settings.HASH_KEY_FALLBACKS]
    return MultiFernet([_fernet(k) for k in dict.fromkeys(keys)])


def seal(text: str) -> str:
    return _keys().encrypt(text.encode()).decode()


def unseal(token: str) -> str:
    try:
        return _keys().decrypt(token.encode()).decode()
    except (InvalidToken, ValueError, TypeError) as exc:
        raise Unreadable("The sealed value cannot be opened with the configured keys.") from exc
