"""Onboarding with an activation code, login, logout and password reset."""

from __future__ import annotations

import logging
import smtplib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import SetPasswordForm
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import send_mail
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse, reverse_lazy
from django.utils import translation
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from solde import middleware, throttle
from solde.notifications.render import email_html
from solde.portal import services
from solde.portal.forms import (
    CodeForm,
    CustomerPasswordResetForm,
    EmailLoginForm,
    PersonalDataForm,
)
from solde.portal.models import ActivationCode
from solde.registry.models import Customer

SESSION_CODE = "portal_activation_code"
RESET_PER_EMAIL = throttle.Limit("password-reset", 3, timedelta(hours=1))
RESET_PER_CLIENT = throttle.Limit("password-reset-client", 20, timedelta(hours=1))
log = logging.getLogger(__name__)


def client_ip(request: HttpRequest) -> str:
    return middleware.client_ip(request) or "unknown"


def _session_key(request: HttpRequest) -> str:
    if not request.session.session_key:
        request.session.create()
    return request.session.session_key or ""


def home(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("portal:dashboard")
    return render(request, "portal/home.html", {"form": EmailLoginForm(request)})


@require_http_methods(["GET", "POST"])
def activation_code(request: HttpRequest) -> HttpResponse:
    """Step 1: the code from the letter or e-mail. Wrong codes count towards a lockout."""
    keys = services.code_entry_keys(client_ip(request), _session_key(request))
    form = CodeForm(request.POST or None)
    locked = services.code_entry_blocked(keys)
    if request.method == "POST" and not locked and form.is_valid():
        # Counted before the code is looked at: parallel guesses cannot outrun the limit.
        attempt = services.take_code_attempt(keys)
        locked = not attempt.allowed
        code = None
        if not locked:
            try:
                code = services.find_code(form.cleaned_data["code"])
            except services.PortalError as exc:
                locked = services.code_entry_blocked(keys)
                if not locked:
                    form.add_error("code", str(exc))
            else:
                throttle.give_back(attempt)
        if code is not None:
            if request.user.is_authenticated and hasattr(request.user, "customer"):
                try:
                    sp = services.link_supply_point(request.user.customer, code.pk)
                except services.PortalError as exc:
                    form.add_error("code", str(exc))
                else:
                    messages.success(
                        request,
                        _("Le compteur EAN %(ean)s est ajouté à votre espace.") % {"ean": sp.ean},
                    )
                    return redirect("portal:dashboard")
            else:
                request.session[SESSION_CODE] = code.pk
                return redirect("portal:activation_details")
    status = 429 if locked else 200
    return render(
        request, "portal/activation_code.html", {"form": form, "locked": locked}, status=status
    )


def _pending_code(request: HttpRequest) -> ActivationCode | None:
    code_id = request.session.get(SESSION_CODE)
    if not code_id:
        return None
    code = (
        ActivationCode.objects.select_related("supply_point__customer").filter(pk=code_id).first()
    )
    if code is None:
        return None
    try:
        services.check_code_usable(code)
    except services.PortalError as exc:
        messages.error(request, str(exc))
        return None
    return code


def send_confirmation(request: HttpRequest, user) -> None:
    """The e-mail whose signed, expiring link lets the customer choose a password."""
    link = request.build_absolute_uri(
        reverse(
            "portal:activation_password",
            args=[
                urlsafe_base64_encode(force_bytes(user.pk)),
                default_token_generator.make_token(user),
            ],
        )
    )
    language = getattr(getattr(user, "customer", None), "language", None) or "fr"
    with translation.override(language):
        context = {"user": user, "link": link}
        subject = render_to_string("portal/email/confirm_subject.txt", context).strip()
        body = render_to_string("portal/email/confirm_body.txt", context)
    _send_or_log(subject, body, user.email, language)


def send_address_in_use(request: HttpRequest, email: str) -> None:
    """Sign-up with an address that has a login already: tell the address's owner, and show the
    person signing up exactly what a successful sign-up shows (no account enumeration)."""
    context = {"reset_link": request.build_absolute_uri(reverse("portal:password_reset"))}
    language = translation.get_language() or "fr"
    subject = render_to_string("portal/email/address_in_use_subject.txt", context).strip()
    body = render_to_string("portal/email/address_in_use_body.txt", context)
    _send_or_log(subject, body, email, language)


def _send_or_log(subject: str, body: str, to: str, language: str) -> bool:
    """An onboarding e-mail can be asked again (« Mot de passe oublié ? »): a mail server that
    is down is logged for operators, never a server error after the account was created."""
    try:
        send_mail(subject, body, None, [to], html_message=email_html(subject, body, language))
    except (smtplib.SMTPException, OSError):
        log.error("portal e-mail could not be sent (mail server unavailable)", exc_info=True)
        return False
    return True


@contextmanager
def at_least(seconds: float) -> Iterator[None]:
    """Answer no sooner than `seconds`: whether an address is known (and mailed) or not, the
    answer takes the same time."""
    started = time.monotonic()
    yield
    time.sleep(max(0.0, seconds - (time.monotonic() - started)))


@require_http_methods(["GET", "POST"])
def activation_details(request: HttpRequest) -> HttpResponse:
    """Step 2: check and correct the personal data, then "Créer mon compte"."""
    code = _pending_code(request)
    if code is None:
        return redirect("portal:activation_code")
    customer = code.supply_point.customer
    initial = {
        "first_name": customer.first_name,
        "last_name": customer.last_name,
        "email": customer.email,
        "phone": customer.phone,
        "language": translation.get_language() or customer.language,
    }
    form = PersonalDataForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        with at_least(settings.PORTAL_PROBE_SECONDS):
            try:
                user = services.create_portal_account(code.pk, **form.cleaned_data)
            except services.EmailTaken as taken:
                # The code stays usable: its owner learns from the e-mail, nobody else does.
                send_address_in_use(request, str(taken))
                request.session["portal_sent_to"] = form.cleaned_data["email"]
                return redirect("portal:activation_sent")
            except services.PortalError as exc:
                form.add_error(None, str(exc))
            else:
                request.session.pop(SESSION_CODE, None)
                send_confirmation(request, user)
                request.session["portal_sent_to"] = user.email
                return redirect("portal:activation_sent")
    return render(
        request,
        "portal/activation_details.html",
        {"form": form, "supply_point": code.supply_point},
    )


def activation_sent(request: HttpRequest) -> HttpResponse:
    return render(
        request, "portal/activation_sent.html", {"email": request.session.get("portal_sent_to")}
    )


class ChoosePasswordView(auth_views.PasswordResetConfirmView):
    """Step 3: the link of the confirmation e-mail; the password makes the account ready."""

    template_name = "portal/choose_password.html"
    form_class = SetPasswordForm  # type: ignore[assignment]
    success_url = reverse_lazy("portal:activation_ready")


def accessibility(request: HttpRequest) -> HttpResponse:
    """The statement of accessibility the web accessibility directive requires, linked from
    every page's footer."""
    return render(request, "portal/accessibility.html", {"statement_date": STATEMENT_DATE})


STATEMENT_DATE = date(2026, 11, 30)  # the last full check of every page (update with it)


def activation_ready(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/activation_ready.html")


class LoginView(auth_views.LoginView):
    template_name = "portal/login.html"
    authentication_form = EmailLoginForm
    redirect_authenticated_user = True
    next_page = reverse_lazy("portal:dashboard")  # type: ignore[assignment]

    def form_valid(self, form):
        """The portal speaks the customer's saved language from the login on (the language
        picker still changes it for the session); the language cookie is set as Django's
        set_language view sets it."""
        response = super().form_valid(form)
        customer = Customer.objects.filter(user=form.get_user()).first()
        if customer is not None and customer.language in dict(settings.LANGUAGES):
            translation.activate(customer.language)
            response.set_cookie(
                settings.LANGUAGE_COOKIE_NAME,
                customer.language,
                max_age=settings.LANGUAGE_COOKIE_AGE,
                path=settings.LANGUAGE_COOKIE_PATH,
                domain=settings.LANGUAGE_COOKIE_DOMAIN,
                secure=settings.LANGUAGE_COOKIE_SECURE,
                httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
                samesite=settings.LANGUAGE_COOKIE_SAMESITE,
            )
        return response


class LogoutView(auth_views.LogoutView):
    next_page = reverse_lazy("portal:home")  # type: ignore[assignment]


class PasswordResetView(auth_views.PasswordResetView):
    """The same answer, in the same time, for a known or an unknown address; at most a few
    links per address and per client address an hour."""

    template_name = "portal/password_reset.html"
    form_class = CustomerPasswordResetForm
    email_template_name = "portal/email/reset_body.txt"
    subject_template_name = "portal/email/reset_subject.txt"
    success_url = reverse_lazy("portal:password_reset_done")

    def form_valid(self, form):
        email = form.cleaned_data["email"].strip().lower()
        with at_least(settings.PORTAL_PROBE_SECONDS):
            per_email = throttle.take(RESET_PER_EMAIL, [email])
            per_client = throttle.take(RESET_PER_CLIENT, [client_ip(self.request)])
            if per_email.allowed and per_client.allowed:
                try:
                    super().form_valid(form)
                except (smtplib.SMTPException, OSError):
                    log.error("password reset e-mail could not be sent", exc_info=True)
        return redirect(self.success_url)


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "portal/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "portal/choose_password.html"
    success_url = reverse_lazy("portal:password_reset_complete")


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "portal/activation_ready.html"
