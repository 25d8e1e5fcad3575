"""Portal operations: activation codes, onboarding, notices. Each public service is one
transaction; helpers never commit."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from solde import clock, sealed, throttle
from solde.identifiers import (
    hash_secret,
    new_activation_code,
    normalize_activation_code,
    secret_hashes,
)
from solde.notifications.events import publish_many
from solde.portal.models import ActivationCode, NoticeRead
from solde.registry.models import Customer, SupplyPoint

# Lockout for activation codes (logins are django-axes'): this many wrong codes per address or
# per session within the window locks code entry for the rest of the window; far more wrong
# codes across the whole platform (a distributed guess) locks it for everyone for a while.
CODE_PER_ADDRESS = throttle.Limit(
    "activation-code", getattr(settings, "PORTAL_CODE_FAILURE_LIMIT", 5), timedelta(minutes=30)
)
CODE_ALL = throttle.Limit(
    "activation-code-all", getattr(settings, "PORTAL_CODE_GLOBAL_LIMIT", 500), timedelta(hours=1)
)


class PortalError(ValueError):
    """A refusal whose message is a sentence for the customer."""


class EmailTaken(PortalError):
    """Sign-up with an address that has a login already: never said to the person signing up."""


def code_hash(text: str) -> str:
    return hash_secret(normalize_activation_code(text))


def _code_rows(supply_points: list[SupplyPoint]) -> tuple[list[ActivationCode], dict[int, str]]:
    now = clock.now()
    rows, plain = [], {}
    for sp in supply_points:
        code = new_activation_code()
        plain[sp.pk] = code
        rows.append(
            ActivationCode(
                supply_point=sp,
                code_hash=code_hash(code),
                issued_at=now,
                expires_at=now + timedelta(days=sp.dso.activation_code_days),
            )
        )
    return rows, plain


def revoke_unused_codes(supply_points: Iterable[SupplyPoint]) -> int:
    """End the unused, unexpired codes of these supply points now. Returns how many."""
    now = clock.now()
    return ActivationCode.objects.filter(
        supply_point__in=[sp.pk for sp in supply_points], used_at__isnull=True, expires_at__gt=now
    ).update(expires_at=now)


def issue_activation_codes(
    supply_points: Iterable[SupplyPoint], notify: bool = True
) -> dict[int, str]:
    """Issue one code per supply point, set-based; the supply points' earlier unused codes stop
    working (one valid code per supply point, whoever reissues). Publishes
    `activation_code_issued` with the code sealed (solde.sealed): the notifications app opens
    it only to send the letter or e-mail, then erases it; the database never holds it in clear.
    Runs inside the caller's transaction. Returns supply point id → plain code. `notify=False`:
    the caller delivers the code itself (the budget-meter migration prints it in its batch of
    letters)."""
    sps = list(supply_points)
    if not sps:
        return {}
    revoke_unused_codes(sps)
    while True:
        rows, plain = _code_rows(sps)
        if len({r.code_hash for r in rows}) < len(rows):
            continue
        try:
            # A savepoint: a (vanishingly rare) hash collision must not break the caller.
            with transaction.atomic():
                ActivationCode.objects.bulk_create(rows, batch_size=2000)
            break
        except IntegrityError:
            continue
    if not notify:
        return plain
    events = []
    for sp, row in zip(sps, rows, strict=True):
        events.append(
            (
                "activation_code_issued",
                sp.pk,
                f"activation_code:{row.code_hash[:32]}",
                {
                    "code_sealed": sealed.seal(plain[sp.pk]),
                    "expires_on": clock.local_date(row.expires_at).isoformat(),
                    "ean": sp.ean,
                    "customer_reference": sp.customer_reference,
                    "structured_communication": sp.structured_communication or "",
                },
            )
        )
    publish_many(events)
    return plain


@transaction.atomic
def issue_activation_code(supply_point: SupplyPoint) -> str:
    """Issue a new activation code for one supply point; returns the plain code."""
    return issue_activation_codes([supply_point])[supply_point.pk]


def on_account_activated(sender, account_ids, **kwargs) -> None:
    """prepayment.signals.account_activated → one activation code per activated account."""
    sps = list(SupplyPoint.objects.filter(account__pk__in=list(account_ids)).select_related("dso"))
    issue_activation_codes(sps)


# --- Code entry and lockout ------------------------------------------------------------------


def code_entry_keys(ip: str, session_key: str) -> list[tuple[throttle.Limit, str]]:
    return [(CODE_PER_ADDRESS, ip), (CODE_PER_ADDRESS, f"session:{session_key}"), (CODE_ALL, "*")]


def code_entry_blocked(keys: list[tuple[throttle.Limit, str]]) -> bool:
    return any(throttle.blocked(limit, [key]) for limit, key in keys)


def take_code_attempt(keys: list[tuple[throttle.Limit, str]]) -> throttle.Taken:
    """Count one code entry against every limit at once; `allowed` is False past any of them."""
    taken = [throttle.take(limit, [key]) for limit, key in keys]
    return throttle.Taken(all(t.allowed for t in taken), tuple(i for t in taken for i in t.ids))


def find_code(text: str) -> ActivationCode:
    """The valid code typed in, or PortalError with what to do."""
    normalized = normalize_activation_code(text)
    if not normalized:
        raise PortalError(_("Introduisez le code d'activation reçu par courrier ou par e-mail."))
    code = (
        ActivationCode.objects.select_related("supply_point__customer", "supply_point__dso")
        .filter(code_hash__in=secret_hashes(normalized))  # current hash key, then fallbacks
        .first()
    )
    if code is None:
        raise PortalError(
            _(
                "Ce code d'activation n'existe pas. Vérifiez les 10 caractères "
                "(ils commencent par PP) et réessayez."
            )
        )
    check_code_usable(code)
    return code


def check_code_usable(code: ActivationCode) -> None:
    if code.used_at is not None:
        raise PortalError(
            _(
                "Ce code d'activation a déjà été utilisé. Connectez-vous avec votre adresse "
                "e-mail, ou demandez un nouveau code à notre service clientèle."
            )
        )
    if code.expires_at <= clock.now():
        raise PortalError(
            _("Ce code d'activation a expiré. Demandez un nouveau code à notre service clientèle.")
        )


# --- Onboarding -----------------------------------------------------------------------------


@transaction.atomic
def create_portal_account(
    code_id: int,
    *,
    first_name: str,
    last_name: str,
    email: str,
    phone: str,
    language: str,
):
    """Use the code: correct the customer's data and create their login (the e-mail), without a
    password yet — the confirmation e-mail's link lets them choose one."""
    code = (
        ActivationCode.objects.select_for_update()
        .select_related("supply_point__customer")
        .get(pk=code_id)
    )
    check_code_usable(code)
    customer: Customer = code.supply_point.customer
    email = email.strip().lower()
    if customer.user_id is not None:
        raise PortalError(
            _("Un compte existe déjà pour ce client. Connectez-vous avec votre adresse e-mail.")
        )
    User = get_user_model()
    taken = User.objects.filter(username__iexact=email).values_list("email", flat=True).first()
    if taken is not None:
        raise EmailTaken(taken or email)
    user = User(username=email, email=email, first_name=first_name, last_name=last_name)
    user.set_unusable_password()
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:  # the same address registered a moment ago
        raise EmailTaken(email) from None
    customer.first_name, customer.last_name = first_name, last_name
    customer.email, customer.phone, customer.language = email, phone, language
    customer.user = user
    customer.save(update_fields=["first_name", "last_name", "email", "phone", "language", "user"])
    code.used_at, code.used_by = clock.now(), user
    code.save(update_fields=["used_at", "used_by"])
    return user


@transaction.atomic
def update_personal_data(
    customer: Customer, *, first_name: str, last_name: str, email: str, phone: str, language: str
) -> None:
    """Correct the customer's personal data; the e-mail is also the login."""
    email = email.strip().lower()
    user = customer.user
    User = get_user_model()
    if user and User.objects.filter(username__iexact=email).exclude(pk=user.pk).exists():
        raise PortalError(
            _(
                "Cette adresse e-mail est déjà utilisée pour un autre compte. "
                "Choisissez-en une autre."
            )
        )
    customer.first_name, customer.last_name = first_name, last_name
    customer.email, customer.phone, customer.language = email, phone, language
    customer.save(update_fields=["first_name", "last_name", "email", "phone", "language"])
    if user:
        user.username = user.email = email
        user.first_name, user.last_name = first_name, last_name
        user.save(update_fields=["username", "email", "first_name", "last_name"])


@transaction.atomic
def link_supply_point(customer: Customer, code_id: int) -> SupplyPoint:
    """A logged-in customer adds another EAN with its activation code ("Introduire mon token").

    The code proves the holder received the letter sent to that supply point; a supply point
    already tied to another portal account cannot be moved."""
    code = (
        ActivationCode.objects.select_for_update()
        .select_related("supply_point__customer")
        .get(pk=code_id)
    )
    check_code_usable(code)
    sp = code.supply_point
    if sp.customer_id != customer.pk:
        if sp.customer.user_id is not None:
            raise PortalError(
                _("Ce compteur est déjà lié à un autre compte. Contactez notre service clientèle.")
            )
        sp.customer = customer
        sp.save(update_fields=["customer"])
    code.used_at, code.used_by = clock.now(), customer.user
    code.save(update_fields=["used_at", "used_by"])
    return sp


def mark_notice_read(user, notice: str) -> None:
    NoticeRead.objects.get_or_create(user=user, notice=notice, defaults={"read_at": clock.now()})
