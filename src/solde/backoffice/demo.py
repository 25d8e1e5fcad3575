"""Demo operator accounts, one per console role (made-up people, demo data only, never in
production): a newcomer signs in to /console/ as each role and sees what that role may do.
Like the demo's admin they sign in without a second factor (SOLDE_STAFF_2FA is off in the demo;
production refuses to start with it off, check solde.E007)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group, Permission, User
from django.db import transaction

from solde.backoffice import roles
from solde.backoffice.models import AdjustmentLimit

DEMO_PASSWORD = "console-demo-2026"  # demo only, printed on purpose

# (username, role, first name, last name): one made-up operator per role.
DEMO_OPERATORS = [
    ("agent.demo", roles.AGENT, "Nadia", "Agent"),
    ("backoffice.demo", roles.BACKOFFICE, "Bruno", "Finance"),
    ("superviseur.demo", roles.SUPERVISOR, "Sylvie", "Superviseur"),
    ("auditeur.demo", roles.AUDITOR, "Arnaud", "Audit"),
]


@transaction.atomic
def make_operator_logins() -> str:
    """Create (or put back) the demo operators with their role and password; one line each."""
    # The roles come from a migration; a flushed (test) database lost them.
    roles.ensure_roles(Group, Permission, AdjustmentLimit)
    lines = []
    for username, role, first, last in DEMO_OPERATORS:
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User.objects.create_user(
                username,
                f"{username}@example.org",
                DEMO_PASSWORD,
                first_name=first,
                last_name=last,
                is_staff=True,
            )
        else:
            user.set_password(DEMO_PASSWORD)
            user.is_staff = user.is_active = True
            user.save(update_fields=["password", "is_staff", "is_active"])
        user.groups.set([Group.objects.get(name=role)])
        lines.append(
            f"Console: {settings.SITE_URL}/console/  user {username:<17} password "
            f"{DEMO_PASSWORD}  ({role}, demo only)"
        )
    return "\n".join(lines)
