"""Structured logs: one JSON object per line with the request id, and no secret in any line.

The filters sit on the handlers (settings.LOGGING), so every record of every library passes
them, including SQL debug logs and tracebacks."""

from __future__ import annotations

import json
import logging
import re
from contextvars import ContextVar
from datetime import UTC, datetime

request_id: ContextVar[str] = ContextVar("solde_request_id", default="-")

REDACTED = "[REDACTED]"

# API keys (solde_<prefix>_<secret>): the prefix names the key and stays; the secret goes.
_API_KEY = re.compile(r"\b(solde_[0-9a-f]{8}_)[A-Za-z0-9_\-]{8,}")
# Activation codes: PP + 8 characters of the unambiguous alphabet (identifiers.py).
_ACTIVATION_CODE = re.compile(r"\bPP[2-9A-HJ-NP-TV-Z]{8}\b")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[^\s'\",]+")
# password=…, "password": "…", 'new_password1': '…' (forms, JSON, dict reprs, query strings).
_PASSWORD = re.compile(
    r"""(?ix)
    (["']?[a-z_]*(?:password|passwd|secret|token)[a-z0-9_]*["']?\s*[:=]\s*)
    (?:"[^"]*"|'[^']*'|[^\s&,;}\]]+)
    """
)
# IBAN candidates (with or without the groups' spaces); masked when the ISO 13616 check digits
# hold (not the national ones: a mistyped account number is still someone's data).
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:\s?[A-Z0-9]{4}){2,7}(?:\s?[A-Z0-9]{1,3})?\b")


def _iban_checks(compact: str) -> bool:
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def _mask_iban(match: re.Match[str]) -> str:
    """The longest leading part of the candidate that is an IBAN is masked: the candidate may
    run on into the next word ("BE68 5390 0754 7034 STMT")."""
    text = match.group(0)
    for end in range(len(text), 13, -1):
        compact = text[:end].replace(" ", "")
        if text[end - 1] != " " and len(compact) >= 14 and _iban_checks(compact):
            return f"{compact[:2]}**…{compact[-4:]}" + text[end:]
    return text


def redact(text: str) -> str:
    """The text with API keys, bearer tokens, passwords, activation codes and IBANs masked."""
    if not text:
        return text
    text = _API_KEY.sub(rf"\1{REDACTED}", text)
    text = _BEARER.sub(rf"\1{REDACTED}", text)
    text = _PASSWORD.sub(rf"\1{REDACTED}", text)
    text = _ACTIVATION_CODE.sub("PP" + "*" * 8, text)
    return _IBAN.sub(_mask_iban, text)


class RedactSecrets(logging.Filter):
    """Rewrites the record's message, traceback and string extras with `redact`."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 — a bad format string must still be logged
            message = f"{record.msg!r} {record.args!r}"
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        # Extras (django.db.backends' `sql` and `params`, a caller's `extra=`) are text once
        # formatted: redact their text, whatever their type.
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and not isinstance(value, int | float | bool | None):
                setattr(record, key, redact(str(value)))
        return True


class AddRequestId(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            # django.request logs after the middleware has returned: the request carries the id.
            request = getattr(record, "request", None)
            record.request_id = getattr(request, "request_id", None) or request_id.get()
        return True


_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id"}


class JsonFormatter(logging.Formatter):
    """{"time", "level", "logger", "message", "request_id", extras…, "exception"} per line."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", request_id.get()),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in out:
                out[key] = value if isinstance(value, int | float | bool | None) else str(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exception"] = record.exc_text
        if record.stack_info:
            out["stack"] = record.stack_info
        return json.dumps(out, ensure_ascii=False)
