"""Staff two-factor: one-time recovery codes for a lost phone. Shown once at enrolment (and at
each regeneration), stored only as keyed hashes, each usable once, regenerable after typing the
password again, and every issue and use audited."""

from __future__ import annotations

import re

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import User
from django_otp.plugins.otp_totp.models import TOTPDevice

from solde.backoffice import twofactor
from solde.backoffice.models import ActionKind, OperatorAction, RecoveryCode, RecoveryCodes
from tests.conftest import totp_code

PASSWORD = "Console-2026!"
TWO_FACTOR = "/console/2fa/"
REGENERATE = "/console/2fa/recovery-codes/"

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(db):
    return User.objects.create_superuser("oper", "oper@dso.example", PASSWORD)


def codes_on(response) -> list[str]:
    return re.findall(r"<li><code>([a-z0-9-]+)</code></li>", response.content.decode())


def sign_in(client, user):
    response = client.post("/console/login/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302


def enrol(client, user) -> tuple[TOTPDevice, list[str]]:
    """Password, then the first TOTP code: the page that follows shows the recovery codes."""
    sign_in(client, user)
    client.get(TWO_FACTOR)
    pending = TOTPDevice.objects.get(user=user, confirmed=False)
    response = client.post(TWO_FACTOR, {"code": totp_code(pending), "next": "/console/search/"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert 'href="/console/search/"' in response.content.decode()
    codes = codes_on(response)
    return TOTPDevice.objects.get(user=user), codes


def sign_out(client):
    client.post("/console/logout/")


def test_enrolment_shows_ten_codes_once_and_keeps_only_their_hashes(client, staff, staff_2fa):
    _device, codes = enrol(client, staff)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(re.fullmatch(r"[a-z2-9]{5}-[a-z2-9]{5}", c) for c in codes)
    stored = list(
        RecoveryCode.objects.filter(device__user=staff).values_list("code_hash", flat=True)
    )
    assert len(stored) == 10
    for code in codes:
        assert code not in stored and code.replace("-", "") not in stored
        assert all(code.replace("-", "") not in h for h in stored)
    # The session is verified now: the page is not shown again.
    assert client.get(TWO_FACTOR)["Location"] == "/console/"
    assert client.get("/console/").status_code == 200
    assert (
        OperatorAction.objects.filter(user=staff, kind=ActionKind.RECOVERY_CODES_ISSUED).count()
        == 1
    )


def test_a_recovery_code_lets_in_once(client, staff, staff_2fa):
    _device, codes = enrol(client, staff)
    sign_out(client)
    sign_in(client, staff)
    # Typed as read off paper: capitals and a space instead of the dash.
    response = client.post(TWO_FACTOR, {"code": codes[0].upper().replace("-", " ")})
    assert response.status_code == 302 and response["Location"] == "/console/"
    assert client.get("/console/").status_code == 200
    used = OperatorAction.objects.get(user=staff, kind=ActionKind.RECOVERY_CODE_USED)
    assert "9" in used.summary  # how many are left
    sign_out(client)
    sign_in(client, staff)
    response = client.post(TWO_FACTOR, {"code": codes[0]})
    assert response.status_code == 400
    assert client.get("/console/").status_code == 302
    assert OperatorAction.objects.filter(user=staff, kind=ActionKind.TWO_FACTOR_FAILED).exists()
    # Another code still works (past django-otp's wait after the failure).
    RecoveryCodes.objects.filter(user=staff).update(throttling_failure_count=0)
    assert client.post(TWO_FACTOR, {"code": codes[1]}).status_code == 302
    assert RecoveryCodes.objects.get(user=staff).remaining() == 8


def test_a_code_is_used_once_even_by_two_sessions_at_once(staff):
    TOTPDevice.objects.create(user=staff, name="authenticator", confirmed=True)
    [code, *_] = twofactor.issue_recovery_codes(staff, "test")
    first, second = RecoveryCodes.objects.get(user=staff), RecoveryCodes.objects.get(user=staff)
    assert first.verify_token(code) is True
    second.throttling_failure_count = 0
    assert second.verify_token(code) is False


def test_recovery_codes_do_not_replace_the_enrolment(client, staff, staff_2fa):
    """Without a confirmed authenticator, a recovery-shaped code opens nothing."""
    TOTPDevice.objects.create(user=staff, name="authenticator", confirmed=True)
    [code, *_] = twofactor.issue_recovery_codes(staff, "test")
    TOTPDevice.objects.filter(user=staff).delete()
    sign_in(client, staff)
    client.get(TWO_FACTOR)
    assert client.post(TWO_FACTOR, {"code": code}).status_code == 400
    assert client.get("/console/").status_code == 302


def test_wrong_recovery_codes_count_towards_the_lockout(client, staff, staff_2fa, settings):
    _device, codes = enrol(client, staff)
    sign_out(client)
    sign_in(client, staff)
    for _ in range(settings.STAFF_OTP_FAILURE_LIMIT):
        RecoveryCodes.objects.filter(user=staff).update(throttling_failure_count=0)
        assert client.post(TWO_FACTOR, {"code": "zzzzz-zzzzz"}).status_code == 400
    RecoveryCodes.objects.filter(user=staff).update(throttling_failure_count=0)
    response = client.post(TWO_FACTOR, {"code": codes[0]})
    assert response.status_code == 400 and "15 minutes" in response.content.decode()
    assert RecoveryCodes.objects.get(user=staff).remaining() == 10


def test_regenerating_needs_the_password_and_ends_the_old_codes(client, staff, staff_2fa):
    _device, old = enrol(client, staff)
    page = client.get(REGENERATE)
    assert page.status_code == 200 and "10 codes de secours" in page.content.decode()
    assert codes_on(page) == []  # never shown again
    response = client.post(REGENERATE, {"password": "not-mine"})
    assert response.status_code == 400
    assert codes_on(response) == []
    response = client.post(REGENERATE, {"password": PASSWORD})
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    new = codes_on(response)
    assert len(new) == 10 and not set(new) & set(old)
    assert RecoveryCode.objects.filter(device__user=staff).count() == 10
    issued = OperatorAction.objects.filter(user=staff, kind=ActionKind.RECOVERY_CODES_ISSUED)
    assert issued.count() == 2
    sign_out(client)
    sign_in(client, staff)
    assert client.post(TWO_FACTOR, {"code": old[0]}).status_code == 400
    RecoveryCodes.objects.filter(user=staff).update(throttling_failure_count=0)
    assert client.post(TWO_FACTOR, {"code": new[0]}).status_code == 302


def test_regenerating_needs_a_verified_session(client, staff, staff_2fa):
    enrol(client, staff)
    sign_out(client)
    sign_in(client, staff)  # password only
    response = client.post(REGENERATE, {"password": PASSWORD})
    assert response.status_code == 302 and response["Location"].startswith(TWO_FACTOR)
    assert OperatorAction.objects.filter(kind=ActionKind.RECOVERY_CODES_ISSUED).count() == 1


def test_the_admin_shows_how_many_are_left_never_the_codes(client, staff):
    TOTPDevice.objects.create(user=staff, name="authenticator", confirmed=True)
    codes = twofactor.issue_recovery_codes(staff, "test")
    device = RecoveryCodes.objects.get(user=staff)
    assert device.verify_token(codes[0])
    client.force_login(staff)  # the tests' default is the demo's: 2FA off
    page = client.get("/admin/backoffice/recoverycodes/").content.decode()
    assert ">9<" in page
    detail = client.get(f"/admin/backoffice/recoverycodes/{device.pk}/change/").content.decode()
    assert not any(c in detail or c.replace("-", "") in detail for c in codes)
    # A lost phone without codes: the administrator deletes the device; the person enrols anew.
    response = client.post(f"/admin/backoffice/recoverycodes/{device.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not RecoveryCode.objects.filter(device__user=staff).exists()
    deleted = LogEntry.objects.filter(
        content_type__model="recoverycodes", action=LogEntry.Action.DELETE
    ).get()
    assert deleted.actor == staff
