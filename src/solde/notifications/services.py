"""Customer communication: contact preferences, the outbox of messages, sending, history.

Events (written by the services that cause them) become Messages in `render_events`, in the
transaction that marks the event handled; `send_due` sends them after commit, with retries.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django.utils import formats, translation
from django.utils.translation import gettext as _

from solde import clock, sealed
from solde.notifications import letters, rules, transport
from solde.notifications.models import (
    Channel,
    ContactPreference,
    Event,
    EventKind,
    ExtraRecipient,
    Message,
    MessageStatus,
)
from solde.notifications.render import Facts, kind_label, render
from solde.registry.models import Customer

log = logging.getLogger(__name__)
# The event payload key of an activation code sealed under the hash key (solde.sealed).
SEALED_CODE = "code_sealed"

MAX_EXTRA_RECIPIENTS = 5
RENDER_BATCH = 500
SEND_BATCH = 100
LANGUAGES = ("fr", "nl", "de", "en")


# --- contact preferences and extra recipients ----------------------------------------------


def default_preferences(customer: Customer) -> ContactPreference:
    """What applies before the customer chose (unsaved): e-mail if they have an address, else
    letter; no SMS until they opt in."""
    has_email = bool(customer.email)
    return ContactPreference(customer=customer, email=has_email, sms=False, letter=not has_email)


def contact_preferences(customer: Customer) -> ContactPreference:
    """The customer's saved preferences, or the default (unsaved)."""
    return ContactPreference.objects.filter(customer=customer).first() or default_preferences(
        customer
    )


def _check_kinds(muted_kinds: Iterable[str]) -> list[str]:
    kinds = sorted(set(muted_kinds))
    unknown = [k for k in kinds if k not in EventKind.values]
    if unknown:
        raise ValidationError(
            {"muted_kinds": _("Type d'alerte inconnu : %(kinds)s.") % {"kinds": ", ".join(unknown)}}
        )
    mandatory = [k for k in kinds if k in rules.MANDATORY_KINDS]
    if mandatory:
        raise ValidationError(
            {
                "muted_kinds": _(
                    "Ces messages ne peuvent pas être désactivés, car ils vous disent quoi faire "
                    "pour garder votre fourniture : %(kinds)s."
                )
                % {"kinds": ", ".join(kind_label(k) for k in mandatory)}
            }
        )
    return kinds


@transaction.atomic
def set_contact_preferences(
    customer: Customer,
    *,
    email: bool,
    sms: bool,
    letter: bool,
    muted_kinds: Iterable[str] = (),
) -> ContactPreference:
    """Turn the customer's channels on or off and choose which optional alerts they get.

    Raises ValidationError (per field, sentences saying what to do) and writes nothing when a
    chosen channel has no valid address on the customer's personal data."""
    errors: dict[str, str] = {}
    if not (email or sms or letter):
        errors["__all__"] = _(
            "Choisissez au moins un moyen de vous prévenir : e-mail, SMS ou courrier."
        )
    if email:
        if not customer.email:
            errors["email"] = _(
                "Pour recevoir des e-mails, ajoutez d'abord votre adresse e-mail dans vos "
                "données personnelles."
            )
        else:
            try:
                rules.normalize_email(customer.email)
            except ValidationError as exc:
                errors["email"] = exc.messages[0]
    if sms:
        if not customer.phone:
            errors["sms"] = _(
                "Pour recevoir des SMS, ajoutez d'abord votre numéro de GSM dans vos données "
                "personnelles."
            )
        else:
            try:
                rules.normalize_phone(customer.phone, for_sms=True)
            except ValidationError as exc:
                errors["sms"] = exc.messages[0]
    try:
        kinds = _check_kinds(muted_kinds)
    except ValidationError as exc:
        errors.update({k: v[0] for k, v in exc.message_dict.items()})
    if errors:
        raise ValidationError(errors)
    pref, _created = ContactPreference.objects.update_or_create(
        customer=customer,
        defaults={"email": email, "sms": sms, "letter": letter, "muted_kinds": kinds},
    )
    return pref


@transaction.atomic
def add_recipient(
    customer: Customer,
    *,
    name: str,
    email: str = "",
    phone: str = "",
    by_email: bool | None = None,
    by_sms: bool | None = None,
    language: str = "",
) -> ExtraRecipient:
    """Add someone (a relative, a social worker) who gets the customer's alerts.

    By default each address given is used. Raises ValidationError per field, writing nothing."""
    name = (name or "").strip()
    email, phone = (email or "").strip(), (phone or "").strip()
    by_email = bool(email) if by_email is None else by_email
    by_sms = bool(phone) if by_sms is None else by_sms
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = _("Indiquez le nom de la personne à prévenir.")
    if email:
        try:
            email = rules.normalize_email(email)
        except ValidationError as exc:
            errors["email"] = exc.messages[0]
    elif by_email:
        errors["email"] = _("Indiquez l'adresse e-mail de la personne, ou décochez l'e-mail.")
    if phone:
        try:
            phone = rules.normalize_phone(phone, for_sms=by_sms)
        except ValidationError as exc:
            errors["phone"] = exc.messages[0]
    elif by_sms:
        errors["phone"] = _("Indiquez le numéro de GSM de la personne, ou décochez le SMS.")
    if not (by_email or by_sms) and not errors:
        errors["__all__"] = _(
            "Choisissez comment prévenir cette personne : e-mail, SMS ou les deux."
        )
    if language and language not in LANGUAGES:
        errors["language"] = _(
            "Choisissez la langue parmi français, néerlandais, allemand, anglais."
        )
    existing = ExtraRecipient.objects.select_for_update().filter(customer=customer)
    if not errors:
        rows = list(existing)
        if len(rows) >= MAX_EXTRA_RECIPIENTS:
            errors["__all__"] = _(
                "Vous avez déjà %(n)s destinataires : retirez-en un avant d'en ajouter un autre."
            ) % {"n": len(rows)}
        elif any(
            (email and r.email.lower() == email.lower()) or (phone and r.phone == phone)
            for r in rows
        ):
            errors["__all__"] = _("Cette personne est déjà dans vos destinataires.")
    if errors:
        raise ValidationError(errors)
    return ExtraRecipient.objects.create(
        customer=customer,
        name=name,
        email=email,
        phone=phone,
        by_email=by_email,
        by_sms=by_sms,
        language=language,
    )


@transaction.atomic
def remove_recipient(customer: Customer, recipient_id: int) -> None:
    """Remove one of the customer's extra recipients. Raises ExtraRecipient.DoesNotExist when
    it is not theirs (the portal answers 404). Messages already sent stay in the history."""
    deleted, _detail = ExtraRecipient.objects.filter(customer=customer, pk=recipient_id).delete()
    if not deleted:
        raise ExtraRecipient.DoesNotExist(f"No recipient {recipient_id} for this customer.")


# --- events → messages -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    channel: str
    recipient: str
    name: str
    language: str
    extra: ExtraRecipient | None = None


def _safe_phone(text: str) -> str | None:
    try:
        return rules.normalize_phone(text, for_sms=True)
    except ValidationError:
        return None


def targets_for(
    kind: str,
    customer: Customer,
    pref: ContactPreference,
    extras: list[ExtraRecipient],
) -> list[_Target]:
    """Who gets an event, on which channel, in which language (deduplicated)."""
    lang = customer.language if customer.language in LANGUAGES else "fr"
    name = f"{customer.first_name} {customer.last_name}".strip()
    muted = kind in (pref.muted_kinds or []) and kind not in rules.MANDATORY_KINDS
    out: list[_Target] = []
    if not muted:
        if pref.email and customer.email:
            out.append(_Target(Channel.EMAIL, customer.email.strip(), name, lang))
        if pref.sms and kind not in rules.NO_SMS_KINDS and (p := _safe_phone(customer.phone)):
            out.append(_Target(Channel.SMS, p, name, lang))
        if pref.letter:
            out.append(_Target(Channel.LETTER, f"customer:{customer.pk}", name, lang))
        if kind in rules.MANDATORY_KINDS and not any(t.channel != Channel.SMS for t in out):
            # What the customer must act on (or the code) also goes on paper when no e-mail or
            # letter was chosen: an SMS alone may be missed, and a code is never sent by SMS.
            if kind == "activation_code_issued" or not out:
                out.append(_Target(Channel.LETTER, f"customer:{customer.pk}", name, lang))
        if kind not in rules.PRIVATE_KINDS:
            for er in extras:
                er_lang = er.language if er.language in LANGUAGES else lang
                if er.by_email and er.email:
                    out.append(_Target(Channel.EMAIL, er.email, er.name, er_lang, er))
                if er.by_sms and kind not in rules.NO_SMS_KINDS and (p := _safe_phone(er.phone)):
                    out.append(_Target(Channel.SMS, p, er.name, er_lang, er))
    seen: set[tuple[str, str]] = set()
    unique = []
    for t in out:
        key = (t.channel, t.recipient.lower())
        if key not in seen:
            seen.add(key)
            unique.append(t)
    return unique


def _facts(events: list[Event]) -> dict[int, Facts]:
    """Current balance and emergency limit per supply point, in one query."""
    from solde.prepayment.models import PrepaymentAccount

    sp_ids = {e.supply_point_id for e in events}
    balances = dict(
        PrepaymentAccount.objects.filter(supply_point_id__in=sp_ids).values_list(
            "supply_point_id", "balance_account__balance_cents"
        )
    )
    out = {}
    for e in events:
        sp = e.supply_point
        out[sp.pk] = Facts(
            balance_cents=balances.get(sp.pk),
            emergency_limit_cents=sp.dso.emergency_credit_cents(sp.energy),
        )
    return out


def _render_batch(now: datetime, limit: int) -> tuple[int, int]:
    """One transaction: up to `limit` unhandled events → messages, events marked handled."""
    qs = (
        Event.objects.filter(handled_at__isnull=True)
        .select_related("supply_point__customer", "supply_point__dso")
        .order_by("pk")
    )
    if connection.features.has_select_for_update_skip_locked:
        # Two workers never render the same event; the unique constraint is the backstop.
        qs = qs.select_for_update(skip_locked=True, of=("self",))
    events = list(qs[:limit])
    if not events:
        return 0, 0
    customer_ids = {e.supply_point.customer_id for e in events}
    prefs = {
        p.customer_id: p for p in ContactPreference.objects.filter(customer_id__in=customer_ids)
    }
    extras: dict[int, list[ExtraRecipient]] = defaultdict(list)
    for er in ExtraRecipient.objects.filter(customer_id__in=customer_ids):
        extras[er.customer_id].append(er)
    facts = _facts(events)
    messages: list[Message] = []
    scrub: list[Event] = []
    for event in events:
        if event.kind not in EventKind.values:
            log.warning("Event %s of unknown kind %s: no message", event.key, event.kind)
            continue
        sp = event.supply_point
        customer = sp.customer
        pref = prefs.get(customer.pk) or default_preferences(customer)
        customer_name = f"{customer.first_name} {customer.last_name}".strip()
        before = len(messages)
        for t in targets_for(event.kind, customer, pref, extras[customer.pk]):
            r = render(
                event,
                facts[sp.pk],
                t.channel,
                t.language,
                t.name,
                on_behalf_of=customer_name if t.extra else "",
            )
            held = t.channel == Channel.SMS and rules.in_quiet_hours(now)
            messages.append(
                Message(
                    event=event,
                    customer=customer,
                    extra_recipient=t.extra,
                    channel=t.channel,
                    recipient=t.recipient,
                    recipient_name=t.name,
                    language=t.language,
                    subject=r.subject[:200],
                    body=r.body,
                    status=MessageStatus.HELD if held else MessageStatus.PENDING,
                    next_attempt_at=rules.sms_send_at(now) if held else now,
                    created_at=now,
                )
            )
        if SEALED_CODE in (event.payload or {}) and len(messages) == before:
            scrub.append(event)  # nobody to send the code to: it is not kept
    Message.objects.bulk_create(messages, ignore_conflicts=True, batch_size=1000)
    for event in scrub:
        event.payload = _without_code(event.payload)
    if scrub:
        Event.objects.bulk_update(scrub, ["payload"], batch_size=1000)
    Event.objects.filter(pk__in=[e.pk for e in events]).update(handled_at=now)
    return len(events), len(messages)


def render_events(limit: int | None = None) -> int:
    """Turn unhandled events into messages (per preferences, recipients and language), each
    batch in one transaction with marking its events handled. Returns messages created."""
    now = clock.now()
    created = done = 0
    while limit is None or done < limit:
        batch = RENDER_BATCH if limit is None else min(RENDER_BATCH, limit - done)
        with transaction.atomic():
            n_events, n_messages = _render_batch(now, batch)
        done += n_events
        created += n_messages
        if n_events < batch:
            break
    return created


# --- sending ---------------------------------------------------------------------------------


def _claim(now: datetime, limit: int) -> tuple[list[Message], int]:
    """Take due messages for this worker: a lease (next_attempt_at pushed on) makes another
    worker skip them, and a crashed worker's messages come back when the lease ends."""
    with transaction.atomic():
        qs = Message.objects.filter(
            status__in=[MessageStatus.PENDING, MessageStatus.HELD], next_attempt_at__lte=now
        ).order_by("next_attempt_at", "pk")
        if connection.features.has_select_for_update_skip_locked:
            qs = qs.select_for_update(skip_locked=True, of=("self",))
        due = list(qs.select_related("event", "customer")[:limit])
        claimed, held = [], []
        for m in due:
            if m.channel == Channel.SMS and rules.in_quiet_hours(now):
                m.status, m.next_attempt_at = MessageStatus.HELD, rules.quiet_hours_end(now)
                held.append(m)
                continue
            m.status = MessageStatus.PENDING
            m.attempts += 1
            m.next_attempt_at = now + rules.CLAIM_LEASE
            claimed.append(m)
        Message.objects.bulk_update(
            claimed + held, ["status", "attempts", "next_attempt_at"], batch_size=1000
        )
    return claimed, len(due)


def _without_code(payload: dict) -> dict:
    return {k: v for k, v in (payload or {}).items() if k != SEALED_CODE} | {"code_scrubbed": True}


def _body_to_send(m: Message) -> str:
    """The stored body, with the activation code opened from the event's sealed copy in place
    of its mask (the code exists in clear only in what is sent)."""
    if m.event.kind != EventKind.ACTIVATION_CODE_ISSUED:
        return m.body
    token = (m.event.payload or {}).get(SEALED_CODE)
    if m.secret_scrubbed or not token:
        raise transport.DeliveryError("The activation code was erased: issue a new one.")
    return rules.reveal_code(m.body, sealed.unseal(token))


def _deliver(m: Message, mail_conn, sms_client) -> str:
    """Send one claimed message. Returns the letter path for letters, the provider's message
    id for SMS, "" for e-mail."""
    body = _body_to_send(m)
    if m.channel == Channel.EMAIL:
        transport.send_email(mail_conn, m.recipient, m.subject, body, m.language, m.pk)
        return ""
    if m.channel == Channel.SMS:
        return transport.send_sms(m.recipient, body, m.pk, client=sms_client)
    sp = m.event.supply_point
    with translation.override(m.language):
        place_date = (
            f"{sp.dso.name}, {formats.date_format(clock.local(clock.now()), 'DATE_FORMAT')}"
        )
    pdf = letters.letter_pdf(
        sender=sp.dso.name,
        recipient_lines=[
            m.recipient_name,
            f"{sp.street} {sp.number}".strip(),
            f"{sp.postcode} {sp.city}".strip(),
        ],
        place_date=place_date,
        subject=m.subject,
        body=body,
    )
    return letters.store_letter(m.pk, pdf)


def _record(m: Message, now: datetime, error: str | None, ref: str) -> None:
    if error is None:
        m.status, m.sent_at, m.error, m.next_attempt_at = MessageStatus.SENT, now, "", None
        if m.channel == Channel.SMS:
            m.provider_id = ref or m.provider_id
        else:
            m.letter_pdf = ref or m.letter_pdf
        if m.event.kind == EventKind.ACTIVATION_CODE_ISSUED:
            m.secret_scrubbed = True  # sent once; a resend needs a new code
    else:
        m.error = error[:2000]
        if m.attempts >= rules.MAX_ATTEMPTS:
            m.status, m.next_attempt_at = MessageStatus.FAILED, None
        else:
            retry_at = now + rules.backoff(m.attempts)
            if m.channel == Channel.SMS:
                retry_at = rules.sms_send_at(retry_at)
            m.status, m.next_attempt_at = MessageStatus.PENDING, retry_at


def _erase_code_when_done(event_id: int) -> None:
    """Once no message of an activation event waits to be sent (each sent or failed for
    good), erase its sealed code: nothing can open it afterwards. Locks the event so that two
    workers finishing its last two messages cannot both see the other one pending."""
    event = Event.objects.select_for_update().get(pk=event_id)
    if SEALED_CODE not in (event.payload or {}):
        return
    waiting = Message.objects.filter(
        event_id=event_id, status__in=[MessageStatus.PENDING, MessageStatus.HELD]
    )
    if waiting.exists():
        return
    event.payload = _without_code(event.payload)
    event.save(update_fields=["payload"])
    Message.objects.filter(event_id=event_id).update(secret_scrubbed=True)


def send_due(limit: int | None = None) -> dict[str, int]:
    """Send the messages that are due, outside any transaction (side effects after commit).

    Failures are retried with backoff (1, 2, 4 … minutes) up to rules.MAX_ATTEMPTS, then
    marked failed with the error. SMS due during quiet hours are held until 08:00.
    Returns counts {"sent", "retry", "failed"}."""
    counts = {"sent": 0, "retry": 0, "failed": 0}
    done = 0
    sms_client = None
    while limit is None or done < limit:
        now = clock.now()
        batch, looked_at = _claim(
            now, SEND_BATCH if limit is None else min(SEND_BATCH, limit - done)
        )
        if not looked_at:
            break
        done += len(batch)
        mail_conn = None
        for m in batch:
            error, letter = None, ""
            try:
                if m.channel == Channel.EMAIL and mail_conn is None:
                    mail_conn = transport.email_connection()
                if m.channel == Channel.SMS and sms_client is None:
                    sms_client = transport.sms_client()
                letter = _deliver(m, mail_conn, sms_client)
            except transport.DeliveryError as exc:
                error = str(exc)
                if m.channel == Channel.EMAIL and mail_conn is not None:
                    _close_quietly(mail_conn)  # a broken session would fail the next ones too
                    mail_conn = None
            except Exception as exc:  # a bug in one message must not stop the others
                log.exception("Message %s could not be sent", m.pk)
                error = f"{exc.__class__.__name__}: {exc}"
            _record(m, clock.now(), error, letter)
            with transaction.atomic():
                m.save(
                    update_fields=[
                        "status",
                        "sent_at",
                        "error",
                        "next_attempt_at",
                        "letter_pdf",
                        "body",
                        "secret_scrubbed",
                        "provider_id",
                    ]
                )
                if m.event.kind == EventKind.ACTIVATION_CODE_ISSUED and m.status in (
                    MessageStatus.SENT,
                    MessageStatus.FAILED,
                ):
                    _erase_code_when_done(m.event_id)
            counts[
                "sent"
                if m.status == MessageStatus.SENT
                else "failed"
                if m.status == MessageStatus.FAILED
                else "retry"
            ] += 1
        if mail_conn is not None:
            _close_quietly(mail_conn)
    return counts


def _close_quietly(mail_conn) -> None:
    try:
        mail_conn.close()
    except Exception:  # closing a connection that is already broken
        log.debug("SMTP connection close failed", exc_info=True)


@transaction.atomic
def resend(message_ids: Iterable[int]) -> tuple[int, int]:
    """Operator action: send these messages again. A message whose secret was scrubbed is
    refused (issue a new activation code instead). Returns (queued, refused)."""
    now = clock.now()
    rows = list(Message.objects.select_for_update().filter(pk__in=list(message_ids)))
    ok = [m for m in rows if not m.secret_scrubbed]
    for m in ok:
        m.status, m.attempts, m.error, m.next_attempt_at = MessageStatus.PENDING, 0, "", now
        if m.channel == Channel.SMS and rules.in_quiet_hours(now):
            m.status, m.next_attempt_at = MessageStatus.HELD, rules.quiet_hours_end(now)
    Message.objects.bulk_update(ok, ["status", "attempts", "error", "next_attempt_at"])
    return len(ok), len(rows) - len(ok)


@transaction.atomic
def record_delivery(message_id: int, provider_id: str, status: str, error_code: str = "") -> bool:
    """The SMS provider's report on a message (a verified status callback). Out-of-order and
    repeated reports never move a message back. Message.DoesNotExist when unknown or when the
    provider id is another message's. Returns whether anything changed."""
    m = Message.objects.select_for_update().get(pk=message_id, channel=Channel.SMS)
    if m.provider_id and m.provider_id != provider_id:
        raise Message.DoesNotExist(f"Message {message_id} is not provider message {provider_id}.")
    if not rules.delivery_status_applies(m.delivery_status, status):
        return False
    m.provider_id = provider_id
    m.delivery_status, m.delivery_error = status, error_code[:12]
    m.delivery_updated_at = clock.now()
    m.save(
        update_fields=["provider_id", "delivery_status", "delivery_error", "delivery_updated_at"]
    )
    if status in ("undelivered", "failed"):
        log.warning("SMS %s to %s %s (error %s)", m.pk, m.recipient, status, error_code)
    return True


# --- history ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryEntry:
    """One line of "what was sent" in the portal (labels in the active language)."""

    id: int
    at: datetime
    kind: str
    kind_label: str
    channel: str
    channel_label: str
    recipient: str
    recipient_name: str
    status: str
    status_label: str
    subject: str
    body: str
    ean: str


def history_for(customer: Customer, limit: int = 100, ean: str | None = None) -> list[HistoryEntry]:
    """The messages sent (or about to be) to the customer and their extra recipients, newest
    first. Letters show as "courrier" rather than an internal address."""
    qs = (
        Message.objects.filter(customer=customer)
        .select_related("event__supply_point")
        .order_by("-created_at", "-pk")
    )
    if ean:
        qs = qs.filter(event__supply_point__ean=ean)
    out = []
    for m in qs[:limit]:
        recipient = _("courrier postal") if m.channel == Channel.LETTER else m.recipient
        out.append(
            HistoryEntry(
                id=m.pk,
                at=m.sent_at or m.created_at,
                kind=m.event.kind,
                kind_label=kind_label(m.event.kind),
                channel=m.channel,
                channel_label=str(Channel(m.channel).label),
                recipient=recipient,
                recipient_name=m.recipient_name,
                status=m.status,
                status_label=str(MessageStatus(m.status).label),
                subject=m.subject,
                body=m.body,
                ean=m.event.supply_point.ean,
            )
        )
    return out


def search_filter(term: str) -> Q:
    """Admin search: an EAN, a customer reference, an e-mail address or a phone number."""
    term = term.strip()
    return (
        Q(event__supply_point__ean=term)
        | Q(event__supply_point__customer_reference=term)
        | Q(recipient__iexact=term)
        | Q(customer__email__iexact=term)
    )
