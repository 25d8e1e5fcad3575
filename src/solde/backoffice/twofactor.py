"""Staff accounts: a second factor (TOTP, django-otp) and session limits.

In production (settings.STAFF_2FA) a staff member signed in with a password reaches neither
/admin/ nor /console/ before entering a code from an enrolled authenticator app; one without a
device is led to enrol (QR code and the secret, shown on that page only). Wrong codes are slowed
by django-otp (the wait doubles at each failure) and capped per account by solde.throttle.
Enrolment ends by showing ten one-time recovery codes, once: each lets its owner in once when
the phone is lost (stored as keyed hashes only); they are regenerated at
/console/2fa/recovery-codes/ after the password is typed again. Enrolments, recovery codes
issued and used, wrong codes and lockouts are `OperatorAction`s, like every operator action.

Every staff session, with or without a second factor, ends after
SOLDE_STAFF_SESSION_IDLE_MINUTES without a request and SOLDE_STAFF_SESSION_MAX_HOURS after the
login. Customers' sessions keep Django's defaults.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from datetime import timedelta

import segno
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from solde import clock, throttle
from solde.backoffice import nav
from solde.identifiers import hash_secret

SINCE = "solde_staff_since"
SEEN = "solde_staff_seen"
# The last-seen mark is written at most this often: not a session write per request.
SEEN_GRANULARITY = 30
PROTECTED = ("/admin/", "/console/")
DEVICE_NAME = "authenticator"
RECOVERY_DEVICE_NAME = "recovery codes"
RECOVERY_CODE_COUNT = 10
# No 0/o, 1/l/i: read off paper without doubt. 10 characters of 31: about 49 bits each.
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
RECOVERY_CODE_LENGTH = 10


def otp_limit() -> throttle.Limit:
    return throttle.Limit("staff-otp", settings.STAFF_OTP_FAILURE_LIMIT, timedelta(minutes=15))


def _is_staff(user) -> bool:
    return bool(user.is_authenticated and user.is_staff)


def verified(user) -> bool:
    """Has this request's user entered a valid code (django-otp's OTPMiddleware)?"""
    return bool(getattr(user, "is_verified", lambda: False)())


def _exempt(path: str) -> bool:
    """Pages a signed-in staff member reaches before the second factor."""
    return path in {
        reverse("console:login"),
        reverse("console:logout"),
        reverse("console:two_factor"),
        reverse("admin:login"),
        reverse("admin:logout"),
    }


def mark_login(sender, request, user, **kwargs) -> None:
    """user_logged_in: the absolute session limit counts from here."""
    if user.is_staff and hasattr(request, "session"):
        now = int(time.time())
        request.session[SINCE] = now
        request.session[SEEN] = now


class StaffSessionMiddleware:
    """After OTPMiddleware: ends expired staff sessions, and sends a staff member who has not
    entered a code to the second-factor page before /admin/ or /console/."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is None or not _is_staff(user):
            return self.get_response(request)
        protected = request.path_info.startswith(PROTECTED)
        if self._expired(request):
            # Wall-clock time, not solde.clock: the simulation's clock may jump days.
            logout(request)
            if protected:
                messages.info(request, _("Votre session a expiré. Reconnectez-vous."))
                login = reverse("console:login")
                return redirect(f"{login}?next={request.get_full_path()}")
            return self.get_response(request)
        if (
            protected
            and settings.STAFF_2FA
            and not verified(request.user)
            and not _exempt(request.path_info)
        ):
            return redirect(f"{reverse('console:two_factor')}?next={request.get_full_path()}")
        return self.get_response(request)

    @staticmethod
    def _expired(request: HttpRequest) -> bool:
        session = request.session
        now = int(time.time())
        since = session.get(SINCE)
        seen = session.get(SEEN)
        if since is None or seen is None:
            # A session from before these limits: start counting now.
            session[SINCE] = session.get(SINCE, now)
            session[SEEN] = now
            return False
        idle = settings.STAFF_SESSION_IDLE_MINUTES * 60
        absolute = settings.STAFF_SESSION_MAX_HOURS * 3600
        if now - seen > idle or now - since > absolute:
            return True
        if now - seen >= SEEN_GRANULARITY:
            session[SEEN] = now
        return False


class CodeForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("Code à 6 chiffres de l'application d'authentification"),
        help_text=gettext_lazy("Sans votre téléphone : un de vos codes de secours."),
        max_length=24,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autofocus": True, "spellcheck": "false"}
        ),
    )

    def clean_code(self) -> str:
        code = self.cleaned_data["code"].strip().replace(" ", "")
        if code.isascii() and code.isdigit() and len(code) == 6:
            return code
        if is_recovery_code(code):
            return code
        raise forms.ValidationError(
            _("Entrez les 6 chiffres de l'application, ou un code de secours (10 caractères).")
        )


def is_recovery_code(text: str) -> bool:
    """Shaped like a recovery code (not like a TOTP code)?"""
    from solde.backoffice.models import normalize_recovery_code

    code = normalize_recovery_code(text)
    return len(code) == RECOVERY_CODE_LENGTH and not code.isdigit()


def _new_recovery_code() -> str:
    code = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_CODE_LENGTH))
    return f"{code[:5]}-{code[5:]}"


def issue_recovery_codes(user, why: str) -> list[str]:
    """New recovery codes for a staff member; the previous ones stop working. Returns them in
    clear, to be shown once: only their keyed hashes are kept."""
    from solde.backoffice.models import (
        ActionKind,
        RecoveryCode,
        RecoveryCodes,
        normalize_recovery_code,
    )

    codes = [_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    with transaction.atomic():
        device, _new = RecoveryCodes.objects.select_for_update().get_or_create(
            user=user, defaults={"name": RECOVERY_DEVICE_NAME, "confirmed": True}
        )
        device.codes.all().delete()
        RecoveryCode.objects.bulk_create(
            RecoveryCode(device=device, code_hash=hash_secret(normalize_recovery_code(c)))
            for c in codes
        )
        device.throttle_reset()
        _record(
            user,
            ActionKind.RECOVERY_CODES_ISSUED,
            _("%(n)s codes de secours émis ; les précédents ne fonctionnent plus.")
            % {"n": len(codes)},
            why,
        )
    return codes


def _show_recovery_codes(request: HttpRequest, codes: list[str], target: str) -> HttpResponse:
    """The one page that ever shows the codes: not cached anywhere."""
    context = {"codes": codes, "next": target, "console_nav": []}
    response = render(request, "backoffice/recovery_codes.html", context)
    add_never_cache_headers(response)
    return response


def _next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("console:home")


def _record(user, kind: str, summary: str, reason: str) -> None:
    from solde.backoffice.models import OperatorAction

    OperatorAction.objects.create(
        at=clock.now(), user=user, kind=kind, reason=reason, summary=summary
    )


def two_factor(request: HttpRequest) -> HttpResponse:
    """Enrol an authenticator (no confirmed device yet) or enter its code — or a recovery
    code."""
    from solde.backoffice.models import ActionKind, RecoveryCodes

    user = request.user
    if not (_is_staff(user) and user.is_active):
        return redirect(f"{reverse('console:login')}?next={request.get_full_path()}")
    target = _next(request)
    if not settings.STAFF_2FA or verified(user):
        return redirect(target)
    confirmed = list(TOTPDevice.objects.filter(user=user, confirmed=True))
    enrolling = not confirmed
    pending = None
    if enrolling:
        pending = TOTPDevice.objects.filter(user=user, confirmed=False).first()
        if pending is None or request.method != "POST":
            # A fresh secret at each display: the one shown is never shown again.
            TOTPDevice.objects.filter(user=user, confirmed=False).delete()
            pending = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        code = form.cleaned_data["code"]
        devices: list = [pending] if enrolling else confirmed
        if is_recovery_code(code):
            # Recovery codes stand in for a TOTP device that exists, never for enrolment.
            devices = [] if enrolling else list(RecoveryCodes.objects.filter(user=user))
        keys = [f"user:{user.pk}"]
        taken = throttle.take(otp_limit(), keys)
        if not taken.allowed:
            _record(
                user,
                ActionKind.TWO_FACTOR_LOCKED,
                _("Second facteur bloqué"),
                _("Trop de codes erronés"),
            )
            form.add_error(None, _("Trop de codes erronés. Réessayez dans 15 minutes."))
        elif devices and not any(d.verify_is_allowed()[0] for d in devices):
            # django-otp's own wait after a wrong code (doubles at each failure).
            form.add_error(None, _("Attendez quelques secondes avant un nouvel essai."))
        else:
            device = next((d for d in devices if d.verify_token(code)), None)
            if device is None:
                _record(
                    user,
                    ActionKind.TWO_FACTOR_FAILED,
                    _("Code erroné"),
                    _("Code du second facteur refusé"),
                )
                form.add_error("code", _("Ce code n'est pas valable."))
            else:
                throttle.give_back(taken)
                if enrolling:
                    device.confirmed = True
                    device.save(update_fields=["confirmed"])
                otp_login(request, device)
                if enrolling:
                    _record(
                        user,
                        ActionKind.TWO_FACTOR_ENROLLED,
                        _("Application d'authentification enregistrée"),
                        _("Premier enrôlement du second facteur"),
                    )
                    codes = issue_recovery_codes(user, _("Enrôlement du second facteur"))
                    return _show_recovery_codes(request, codes, target)
                if isinstance(device, RecoveryCodes):
                    left = device.remaining()
                    _record(
                        user,
                        ActionKind.RECOVERY_CODE_USED,
                        _("Connexion avec un code de secours (%(n)s restants)") % {"n": left},
                        _("Application d'authentification indisponible"),
                    )
                    messages.warning(
                        request,
                        _(
                            "Vous êtes entré avec un code de secours ; il vous en reste "
                            "%(n)s. Chaque code ne sert qu'une fois : régénérez-les depuis "
                            "« Codes de secours »."
                        )
                        % {"n": left},
                    )
                return redirect(target)
    context: dict = {"form": form, "next": target, "enrolling": enrolling, "console_nav": []}
    if enrolling and pending is not None:
        uri = pending.config_url
        context["qr"] = segno.make(uri, error="m").svg_data_uri(scale=4)
        context["secret"] = _base32(pending.bin_key)
        context["uri"] = uri
    status = 400 if request.method == "POST" else 200
    return render(request, "backoffice/two_factor.html", context, status=status)


class PasswordForm(forms.Form):
    password = forms.CharField(
        label=gettext_lazy("Votre mot de passe"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


def recovery_codes(request: HttpRequest) -> HttpResponse:
    """Regenerate one's recovery codes (the old ones stop working), after typing the password
    again: a session left open is not enough to take them."""
    from solde.backoffice.models import ActionKind, RecoveryCodes

    user = request.user
    if not (_is_staff(user) and user.is_active):
        return redirect(f"{reverse('console:login')}?next={request.get_full_path()}")
    if settings.STAFF_2FA and not verified(user):
        return redirect(f"{reverse('console:two_factor')}?next={request.get_full_path()}")
    enrolled = TOTPDevice.objects.filter(user=user, confirmed=True).exists()
    form = PasswordForm(request.POST or None)
    if enrolled and request.method == "POST" and form.is_valid():
        taken = throttle.take(otp_limit(), [f"user:{user.pk}"])
        if not taken.allowed:
            form.add_error(None, _("Trop d'essais. Réessayez dans 15 minutes."))
        elif not user.check_password(form.cleaned_data["password"]):
            _record(
                user,
                ActionKind.TWO_FACTOR_FAILED,
                _("Mot de passe erroné (codes de secours)"),
                _("Régénération des codes de secours refusée"),
            )
            form.add_error("password", _("Ce mot de passe n'est pas le vôtre."))
        else:
            throttle.give_back(taken)
            codes = issue_recovery_codes(user, _("Régénérés par leur titulaire"))
            return _show_recovery_codes(request, codes, reverse("console:home"))
    device = RecoveryCodes.objects.filter(user=user).first()
    context = {
        "form": form,
        "enrolled": enrolled,
        "remaining": device.remaining() if device else 0,
        "console_nav": nav.items_for(user),
    }
    status = 400 if request.method == "POST" else 200
    return render(request, "backoffice/recovery_codes.html", context, status=status)


def _base32(key: bytes) -> str:
    from base64 import b32encode

    text = b32encode(key).decode().rstrip("=")
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))
