"""The console's roles: Django groups, their permissions and their default adjustment limits.
Created by migration 0002; changed afterwards in the admin (Groups, Adjustment limits)."""

from __future__ import annotations

AGENT = "Agent centre d'appels"
BACKOFFICE = "Back-office (finance)"
SUPERVISOR = "Superviseur"
AUDITOR = "Auditeur (lecture seule)"

_AGENT = [
    "use_console",
    "adjust_balance",
    "reissue_code",
    "order_meter",
    "resend_message",
    "edit_contact",
]
_BACKOFFICE = _AGENT + [
    "view_dashboard",
    "approve_adjustment",
    "pause_interruptions",
    "match_suspense",
    "review_readings",
]
ROLES: dict[str, list[str]] = {
    AGENT: _AGENT,
    BACKOFFICE: _BACKOFFICE,
    SUPERVISOR: _BACKOFFICE
    + ["decide_held_run", "release_held_line", "erase_customer", "migrate_budget_meters"],
    AUDITOR: ["use_console", "view_dashboard", "view_operatoraction"],
}

# Absolute cents an operator of the role may credit or debit alone (issue 12: agent 50 €,
# back-office 500 €); above, a second person approves.
DEFAULT_LIMITS: dict[str, int] = {AGENT: 5_000, BACKOFFICE: 50_000, SUPERVISOR: 50_000}


def perm(codename: str) -> str:
    """The full permission name the views check (`backoffice.<codename>`)."""
    return f"backoffice.{codename}"


def ensure_roles(group_model, permission_model, limit_model) -> None:
    """Create the roles, their permissions and default limits if missing (the data migration
    calls it with its historical models; a test that flushed the database, with the real)."""
    for name, codenames in ROLES.items():
        group, _ = group_model.objects.get_or_create(name=name)
        perms = permission_model.objects.filter(
            content_type__app_label="backoffice", codename__in=codenames
        )
        group.permissions.add(*perms)
        if name in DEFAULT_LIMITS:
            limit_model.objects.get_or_create(
                group=group, dso=None, defaults={"limit_cents": DEFAULT_LIMITS[name]}
            )


def update_roles(apps, schema_editor) -> None:
    """A data migration's step after a permission is added to the roles: create the new
    permissions now (Django would only after the whole migrate) and give them to the roles."""
    from django.contrib.auth.management import create_permissions

    config = apps.get_app_config("backoffice")
    config.models_module = True
    create_permissions(config, apps=apps, verbosity=0)
    ensure_roles(
        apps.get_model("auth", "Group"),
        apps.get_model("auth", "Permission"),
        apps.get_model("backoffice", "AdjustmentLimit"),
    )
