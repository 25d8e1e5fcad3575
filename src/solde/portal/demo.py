"""Demo logins for the customer portal (demo data only, never in production)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from solde.portal.services import issue_activation_code
from solde.registry.models import SupplyPoint

DEMO_EMAIL = "client.demo@example.org"
DEMO_PASSWORD = "demo-solde-2026"  # demo only, printed on purpose


@transaction.atomic
def make_portal_logins() -> str:
    """A ready customer login on an active supply point (the same customer's other EANs come
    along) and a fresh activation code on another one, to try the onboarding."""
    User = get_user_model()
    active = (
        SupplyPoint.objects.filter(account__state="active")
        .select_related("customer", "dso")
        .order_by("pk")
    )
    lines = []
    user = User.objects.filter(username=DEMO_EMAIL).first()
    sp = None
    if user is None:
        sp = active.filter(customer__user__isnull=True).first()
        if sp is not None:
            user = User.objects.create_user(
                DEMO_EMAIL, DEMO_EMAIL, DEMO_PASSWORD, first_name=sp.customer.first_name
            )
            customer = sp.customer
            customer.user, customer.email = user, DEMO_EMAIL
            customer.save(update_fields=["user", "email"])
    if user is not None:
        lines.append(
            f"Portal:  {settings.SITE_URL}/login/  {DEMO_EMAIL}  password {DEMO_PASSWORD}"
            "  (demo only)"
        )
    others = active.filter(customer__user__isnull=True)
    other = (others.exclude(pk=sp.pk) if sp is not None else others).first()
    if other is not None:
        code = issue_activation_code(other)
        lines.append(
            f"Portal:  {settings.SITE_URL}/activation/  activation code {code} (EAN {other.ean})"
        )
    if not lines:
        lines.append("Portal:  no active supply point yet: run the demo a little first.")
    return "\n".join(lines)
