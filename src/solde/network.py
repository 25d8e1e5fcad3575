"""Who is asking: the client's address, trusting X-Forwarded-For only from our own proxies."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def _trusted(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(net) for net in settings.TRUSTED_PROXIES)


def client_ip(request: HttpRequest) -> str:
    """REMOTE_ADDR, or — when it is a configured trusted proxy (SOLDE_TRUSTED_PROXIES) — the
    right-most address of X-Forwarded-For that is not one of our proxies. A client cannot
    choose its address by sending the header itself."""
    remote = request.META.get("REMOTE_ADDR") or "unknown"
    if not _trusted(remote):
        return remote
    hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop):
            return hop
    return remote


def axes_client_ip(request: HttpRequest) -> str | None:
    """django-axes stores the address in an IP column: None when there is none (force_login)."""
    ip = client_ip(request)
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        return None
    return ip
