"""Operators of each console role, logged-in clients, and accounts to act on."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User

from solde.backoffice import roles
from tests.creditcontrol.conftest import make_account, move_balance, top_up  # noqa: F401

ROLE = {
    "agent": roles.AGENT,
    "backoffice": roles.BACKOFFICE,
    "supervisor": roles.SUPERVISOR,
    "auditor": roles.AUDITOR,
}


@pytest.fixture
def operator(db):
    """operator("agent") → a staff user in that role (a new one each call, or by name)."""
    made: dict[str, User] = {}

    def make(role: str, name: str | None = None) -> User:
        name = name or f"{role}{len(made) + 1}"
        if name in made:
            return made[name]
        user = User.objects.create_user(name, f"{name}@dso.example", "Console-2026!", is_staff=True)
        if role != "none":
            user.groups.add(Group.objects.get(name=ROLE[role]))
        made[name] = user
        return User.objects.get(pk=user.pk)  # fresh permission cache

    return make


@pytest.fixture
def console(client, operator):
    """console("agent") → the test client logged in as a new operator of that role."""

    def login(role: str, name: str | None = None):
        user = operator(role, name)
        client.force_login(user)
        client.user = user
        return client

    return login
