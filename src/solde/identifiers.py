"""EAN (GSRN), customer reference, structured communication (OGM/VCS), activation codes."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from stdnum import ean as stdnum_ean

ACTIVATION_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
_DIGITS = re.compile(r"^[0-9]+$")


class InvalidIdentifier(ValueError):
    pass


def validate_ean(ean: str) -> str:
    """Return the EAN if valid (18 digits, starts with 54, GS1 check digit), else raise."""
    ean = (ean or "").strip()
    if len(ean) != 18 or not _DIGITS.match(ean):
        raise InvalidIdentifier("An EAN has exactly 18 digits.")
    if not ean.startswith("54"):
        raise InvalidIdentifier("A Belgian EAN starts with 54.")
    # stdnum.ean refuses 18 digits; its check digit function does GS1 mod 10.
    if stdnum_ean.calc_check_digit(ean[:17]) != ean[17]:
        raise InvalidIdentifier("The EAN's check digit is wrong: check the 18 digits.")
    return ean


def is_valid_ean(ean: str) -> bool:
    try:
        validate_ean(ean)
    except InvalidIdentifier:
        return False
    return True


def make_ean(body17: str) -> str:
    """Complete 17 digits with their check digit (demo data, tests)."""
    return body17 + stdnum_ean.calc_check_digit(body17)


def customer_reference(ean: str) -> str:
    """The last 13 digits of the EAN."""
    return ean[-13:]


def normalize_reference(text: str) -> str:
    """Strip the spaces, dots and dashes people type in a reference."""
    return re.sub(r"[\s.\-/+]", "", text or "")


def ogm_check(base10: str) -> str:
    remainder = int(base10) % 97
    return f"{remainder or 97:02d}"


def structured_communication(number: int) -> str:
    """`+++123/4567/89012+++` from a number below 10^10 (one per supply point)."""
    base = f"{number:010d}"
    if len(base) != 10:
        raise InvalidIdentifier("A structured communication holds 10 digits before its check.")
    digits = base + ogm_check(base)
    return f"+++{digits[:3]}/{digits[3:7]}/{digits[7:]}+++"


def parse_structured_communication(text: str) -> str | None:
    """Return the canonical `+++…+++` form if `text` holds a valid OGM (check digits right)."""
    digits = re.sub(r"\D", "", text or "")
    if len(digits) != 12:
        return None
    if ogm_check(digits[:10]) != digits[10:]:
        return None
    return f"+++{digits[:3]}/{digits[3:7]}/{digits[7:]}+++"


def new_activation_code() -> str:
    """`PP` + 8 characters from the unambiguous alphabet."""
    return "PP" + "".join(secrets.choice(ACTIVATION_ALPHABET) for _ in range(8))


def normalize_activation_code(text: str) -> str:
    return re.sub(r"[\s\-]", "", text or "").upper()


def hash_secret(text: str) -> str:
    """Keyed hash for high-entropy secrets we must look up (activation codes, API keys), under
    settings.HASH_KEY — its own key, so rotating SECRET_KEY leaves stored hashes valid."""
    from django.conf import settings

    return _keyed(settings.HASH_KEY, text)


def secret_hashes(text: str) -> list[str]:
    """The hash under HASH_KEY, then under each of HASH_KEY_FALLBACKS: what a secret stored
    before the last rotation of the hash key may have been hashed with."""
    from django.conf import settings

    keys = [settings.HASH_KEY, *settings.HASH_KEY_FALLBACKS]
    return list(dict.fromkeys(_keyed(k, text) for k in keys))


def _keyed(key: str, text: str) -> str:
    return hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()
