"""Staff accounts in production: a TOTP second factor before /admin/ and /console/, wrong codes
throttled and audited, idle and absolute session limits; the system check refuses 2FA off."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.checks import run_checks
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from solde.backoffice import twofactor
from solde.backoffice.models import ActionKind, OperatorAction
from tests.conftest import totp_code

PASSWORD = "Console-2026!"
LOGIN = "/console/login/"
TWO_FACTOR = "/console/2fa/"


@pytest.fixture
def staff(db):
    return User.objects.create_superuser("oper", "oper@dso.example", PASSWORD)


def password_login(client, user, path: str = LOGIN):
    response = client.post(path, {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302, response.content[:300]
    return response


def send_code(client, code: str):
    return client.post(TWO_FACTOR, {"code": code})


@pytest.mark.django_db
def test_password_alone_reaches_neither_admin_nor_console(client, staff, staff_2fa, totp_device):
    totp_device(staff)
    password_login(client, staff)
    for path in ("/console/", "/console/search/?q=5414", "/admin/", "/admin/auth/user/"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith(TWO_FACTOR), path
    # The admin's own login page leads to the same step.
    client.logout()
    password_login(client, staff, "/admin/login/?next=/admin/")
    assert client.get("/admin/")["Location"].startswith(TWO_FACTOR)


@pytest.mark.django_db
def test_a_valid_totp_opens_admin_and_console(client, staff, staff_2fa, totp_device):
    device = totp_device(staff)
    password_login(client, staff)
    page = client.get(f"{TWO_FACTOR}?next=/admin/")
    assert page.status_code == 200
    assert b"otp-secret" not in page.content  # enrolled: no secret shown again
    response = client.post(TWO_FACTOR, {"code": totp_code(device), "next": "/admin/"})
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    assert client.get("/console/").status_code == 200


@pytest.mark.django_db
def test_next_never_leaves_the_site(client, staff, staff_2fa, totp_device):
    device = totp_device(staff)
    password_login(client, staff)
    response = client.post(TWO_FACTOR, {"code": totp_code(device), "next": "https://evil.example/"})
    assert response["Location"] == "/console/"


@pytest.mark.django_db
def test_a_staff_member_without_device_enrols_then_needs_a_code_each_login(
    client, staff, staff_2fa
):
    password_login(client, staff)
    page = client.get(TWO_FACTOR)
    html = page.content.decode()
    # The QR code is an inline SVG data URI (the CSP allows img-src data:), with the secret.
    assert re.search(r'<img src="data:image/svg\+xml', html)
    secret = re.search(r'<code id="otp-secret">([A-Z2-7 ]+)</code>', html).group(1)
    pending = TOTPDevice.objects.get(user=staff, confirmed=False)
    assert secret.replace(" ", "") in pending.config_url
    # Not confirmed yet: still no way in.
    assert client.get("/console/")["Location"].startswith(TWO_FACTOR)
    # Shown once: a new display makes a new secret, the old one is gone.
    again = client.get(TWO_FACTOR).content.decode()
    assert secret not in again
    pending = TOTPDevice.objects.get(user=staff, confirmed=False)
    response = send_code(client, totp_code(pending))
    # Enrolled: the recovery codes are shown, once (tests/security/test_staff_recovery_codes.py).
    assert response.status_code == 200 and b"recovery-codes" in response.content
    assert TOTPDevice.objects.get(user=staff).confirmed
    assert client.get("/console/").status_code == 200
    assert OperatorAction.objects.filter(user=staff, kind=ActionKind.TWO_FACTOR_ENROLLED).exists()
    # Next login: a code again, and no enrolment page (no secret shown).
    client.post("/console/logout/")
    password_login(client, staff)
    assert client.get("/console/")["Location"].startswith(TWO_FACTOR)
    assert b"otp-secret" not in client.get(TWO_FACTOR).content


@pytest.mark.django_db
def test_wrong_codes_are_throttled_and_audited(client, staff, staff_2fa, totp_device, settings):
    device = totp_device(staff)
    good = totp_code(device)
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    password_login(client, staff)
    response = send_code(client, wrong)
    assert response.status_code == 400
    # django-otp's wait after a failure: even the right code is refused at once.
    response = send_code(client, good)
    assert response.status_code == 400
    assert "Attendez" in response.content.decode()
    assert client.get("/console/").status_code == 302
    assert OperatorAction.objects.filter(user=staff, kind=ActionKind.TWO_FACTOR_FAILED).count() == 1

    # And at most SOLDE_STAFF_OTP_FAILURE_LIMIT wrong codes per account, however slow.
    def past_the_wait():
        TOTPDevice.objects.filter(pk=device.pk).update(
            throttling_failure_timestamp=timezone.now() - timedelta(hours=1)
        )

    for _ in range(settings.STAFF_OTP_FAILURE_LIMIT - 1):
        past_the_wait()
        assert send_code(client, wrong).status_code == 400
    past_the_wait()
    response = send_code(client, good)
    assert response.status_code == 400
    assert "15 minutes" in response.content.decode()
    assert client.get("/console/").status_code == 302
    assert OperatorAction.objects.filter(user=staff, kind=ActionKind.TWO_FACTOR_LOCKED).exists()


@pytest.mark.django_db
def test_an_idle_staff_session_expires(client, staff, verified_login, settings):
    verified_login(staff)
    assert client.get("/console/").status_code == 200
    session = client.session
    session[twofactor.SEEN] = int(time.time()) - settings.STAFF_SESSION_IDLE_MINUTES * 60 - 5
    session.save()
    response = client.get("/console/")
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)
    assert client.get("/admin/").status_code == 302
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_an_active_staff_session_ends_at_the_absolute_limit(
    client, staff, verified_login, settings
):
    verified_login(staff)
    session = client.session
    session[twofactor.SINCE] = int(time.time()) - settings.STAFF_SESSION_MAX_HOURS * 3600 - 5
    session.save()
    response = client.get("/admin/")
    assert response.status_code == 302 and "login" in response["Location"]
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_customers_keep_their_sessions(client, settings):
    user = User.objects.create_user("household", "h@example.org", PASSWORD)
    client.force_login(user)
    session = client.session
    session[twofactor.SEEN] = int(time.time()) - 24 * 3600
    session[twofactor.SINCE] = int(time.time()) - 24 * 3600
    session.save()
    client.get("/")
    assert client.session.get("_auth_user_id") == str(user.pk)


def test_the_system_check_refuses_2fa_off_in_production(settings):
    settings.PRODUCTION = True
    settings.STAFF_2FA = False
    ids = {e.id for e in run_checks(include_deployment_checks=False)}
    assert "solde.E007" in ids
    settings.STAFF_2FA = True
    assert "solde.E007" not in {e.id for e in run_checks(include_deployment_checks=False)}
    # The demo may switch it off.
    settings.PRODUCTION = False
    settings.STAFF_2FA = False
    assert "solde.E007" not in {e.id for e in run_checks(include_deployment_checks=False)}


@pytest.mark.django_db
def test_the_demo_admin_logs_in_without_a_phone(client, staff):
    # The tests' default is the demo's: 2FA off.
    password_login(client, staff, "/admin/login/?next=/admin/")
    assert client.get("/admin/").status_code == 200
    assert client.get("/console/").status_code == 200
