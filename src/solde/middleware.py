"""Request plumbing for running behind a reverse proxy: which proxies are believed, and the
request id every log line of a request carries."""

from __future__ import annotations

import ipaddress
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from solde import logs

access_log = logging.getLogger("solde.access")

# A caller's X-Request-ID is reused when it is short and plain (a proxy's or a client's id);
# anything else is replaced so a hostile header cannot forge or flood log lines.
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{8,128}$")


def parse_networks(
    values: Iterable[str],
) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Addresses or CIDR networks (`10.0.0.0/8`, `::1`), as given in SOLDE_* lists."""
    return [ipaddress.ip_network(v.strip(), strict=False) for v in values if v.strip()]


def address_in(address: str, networks) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


class TrustedProxies:
    """Believe X-Forwarded-Proto and X-Forwarded-For only from SOLDE_TRUSTED_PROXIES.

    From anyone else the headers are dropped (so `SECURE_PROXY_SSL_HEADER` cannot be spoofed by
    a client talking to the server directly). From a trusted proxy, REMOTE_ADDR becomes the
    client: the right-most address of X-Forwarded-For that is not itself a trusted proxy."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response
        self.proxies = parse_networks(settings.TRUSTED_PROXIES)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        meta = request.META
        if self.proxies and address_in(meta.get("REMOTE_ADDR", ""), self.proxies):
            hops = [h.strip() for h in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if h]
            for hop in reversed(hops):
                if not address_in(hop, self.proxies):
                    try:
                        meta["REMOTE_ADDR"] = str(ipaddress.ip_address(hop))
                    except ValueError:
                        pass  # garbage in the header: keep the proxy's address
                    break
        else:
            meta.pop("HTTP_X_FORWARDED_PROTO", None)
            meta.pop("HTTP_X_FORWARDED_FOR", None)
        return self.get_response(request)


class RequestId:
    """Give each request an id (the caller's X-Request-ID if sane), put it on every log record
    made while the request runs and on the response, and write one access line per request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = given if _SANE_REQUEST_ID.match(given) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        token = logs.request_id.set(request_id)
        started = time.monotonic()
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = request_id
            access_log.info(
                "%s %s %s",
                request.method,
                request.get_full_path(),
                response.status_code,
                extra={
                    "http_method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round((time.monotonic() - started) * 1000, 1),
                    "client": request.META.get("REMOTE_ADDR", ""),
                },
            )
            return response
        finally:
            logs.request_id.reset(token)


def client_ip(request: HttpRequest) -> str | None:
    """The client's address, for counting attempts per address (django-axes, the portal): after
    TrustedProxies, REMOTE_ADDR is the client's even behind a load balancer. None when there
    is none (a test's force_login)."""
    address = request.META.get("REMOTE_ADDR", "")
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None
