"""Activation codes (issue 11, RULES.md §1): only keyed hashes and a sealed copy that lives until
the letter or e-mail is sent; a reissued code ends the previous one, whoever reissues it."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import models
from django.db.models.functions import Cast
from django.test import Client

from solde.notifications import services as notifications
from solde.notifications.events import publish
from solde.notifications.models import Event, Message, MessageStatus
from solde.notifications.rules import MAX_ATTEMPTS
from solde.portal import services as portal
from tests.codes import code_in, issued_code
from tests.notifications.conftest import (  # noqa: F401
    customer_sp,
    media,
    pdf_text,
    smtp_server,
)

pytestmark = pytest.mark.django_db


def tables_holding(text: str) -> list[str]:
    """Every text, char and JSON column of every table that contains `text` (a LIKE)."""
    found = []
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, models.CharField | models.TextField):
                hit = model._default_manager.filter(**{f"{field.attname}__contains": text})
            elif isinstance(field, models.JSONField):
                hit = model._default_manager.annotate(
                    _as_text=Cast(field.attname, models.TextField())
                ).filter(_as_text__contains=text)
            else:
                continue
            if hit.exists():
                found.append(f"{model._meta.db_table}.{field.column}")
    return found


def test_the_scan_finds_a_planted_code(customer_sp):  # noqa: F811
    sp = customer_sp()
    publish("low_credit", sp.pk, "planted", {"x": "PPABCDEFGH"})
    assert tables_holding("PPABCDEFGH") == ["notifications_event.payload"]


def test_no_table_holds_the_code_yet_the_email_carries_it_and_the_sealed_copy_goes(
    frozen,
    customer_sp,  # noqa: F811
    smtp_server,  # noqa: F811
):
    sp = customer_sp(by_email=True)
    code = portal.issue_activation_code(sp)
    assert tables_holding(code) == []
    notifications.render_events()
    (m,) = Message.objects.filter(event__kind="activation_code_issued")
    assert tables_holding(code) == [] and "PP••••••••" in m.body
    assert notifications.send_due()["sent"] == 1
    ((_, mail),) = smtp_server.messages
    assert code_in(mail.get_body(("plain",)).get_content()) == code
    assert tables_holding(code) == []
    event = Event.objects.get(kind="activation_code_issued")
    assert "code_sealed" not in event.payload and event.payload["code_scrubbed"] is True
    assert notifications.resend([m.pk]) == (0, 1)  # nothing left to send it again with


def test_the_letter_carries_the_code_and_nothing_is_kept(
    frozen,
    customer_sp,  # noqa: F811
    media,  # noqa: F811
):
    sp = customer_sp(by_email=False, by_letter=True)
    code = portal.issue_activation_code(sp)
    notifications.render_events()
    notifications.send_due()
    m = Message.objects.get(event__kind="activation_code_issued")
    assert m.status == MessageStatus.SENT
    assert code in pdf_text((media / m.letter_pdf).read_bytes())
    assert tables_holding(code) == []
    assert "code_sealed" not in m.event.payload


def test_a_code_that_cannot_be_delivered_is_erased_when_sending_gives_up(
    frozen,
    customer_sp,  # noqa: F811
    settings,
):
    from datetime import timedelta

    from solde import clock

    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2
    sp = customer_sp(by_email=True)
    portal.issue_activation_code(sp)
    notifications.render_events()
    for _ in range(MAX_ATTEMPTS):
        notifications.send_due()
        clock.advance(timedelta(hours=24))
    m = Message.objects.get(event__kind="activation_code_issued")
    assert m.status == MessageStatus.FAILED
    assert "code_sealed" not in m.event.payload and m.secret_scrubbed


def test_a_reissued_code_ends_the_previous_one_on_the_portal(active_sp):  # noqa: F811
    old = issued_code(active_sp)
    new = portal.issue_activation_code(active_sp)  # the one issuing service, any caller
    assert new != old
    refused = Client().post("/activation/", {"code": old})
    assert refused.status_code == 200 and "expiré" in refused.content.decode()
    accepted = Client().post("/activation/", {"code": new})
    assert accepted.status_code == 302 and accepted.url == "/activation/donnees/"
