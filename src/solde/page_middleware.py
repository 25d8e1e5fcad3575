"""The middleware only pages need, passed by for the API.

Sessions, CSRF, log-in, the second factor, messages and htmx serve the portal, the console and
the admin. An API request (`/api/…`) authenticates with a bearer key, sends no cookie and gets
JSON: none of them does anything for it, yet together they cost it a measurable part of its
time at the benchmarked rates (bench_web). Each class here is the library's own middleware
(a subclass: Django's and the admin's system checks still find them) that hands an API request
straight on. Everything else — trusted proxies, request id, security headers, CSP, language,
NUL and body-size refusal, X-Frame-Options, the audit context — still runs for every request.
"""

from __future__ import annotations

from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django_htmx.middleware import HtmxMiddleware
from django_otp.middleware import OTPMiddleware

API_PREFIX = "/api/"


def is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith(API_PREFIX)


class _PagesOnly:
    """Mixin: run the middleware for pages, hand an API request straight on."""

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_api(request):
            return self.get_response(request)  # type: ignore[attr-defined]
        return super().__call__(request)  # type: ignore[misc]


class Sessions(_PagesOnly, SessionMiddleware):
    pass


class Csrf(_PagesOnly, CsrfViewMiddleware):
    def process_view(self, request, callback, callback_args, callback_kwargs):
        # The API's views are csrf-exempt anyway (django-ninja); nothing to check for them.
        if is_api(request):
            return None
        return super().process_view(request, callback, callback_args, callback_kwargs)


class Authentication(_PagesOnly, AuthenticationMiddleware):
    pass


class Otp(_PagesOnly, OTPMiddleware):
    pass


class Messages(_PagesOnly, MessageMiddleware):
    pass


class Htmx(_PagesOnly, HtmxMiddleware):
    pass
