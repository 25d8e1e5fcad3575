"""The demo's operators, one per console role: printed with their password, they sign in to the
console with it (no second factor in the demo) and each sees what its role allows."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client

from solde.backoffice.demo import make_operator_logins

pytestmark = pytest.mark.django_db

# What each may open (200) or not (403): pages and actions of the console.
SEES = {
    "agent.demo": {"dashboard": 403, "migration": 403, "adjust": 200, "pause": 403},
    "backoffice.demo": {"dashboard": 200, "migration": 403, "adjust": 200, "pause": 200},
    "superviseur.demo": {"dashboard": 200, "migration": 200, "adjust": 200, "pause": 200},
    "auditeur.demo": {"dashboard": 200, "migration": 403, "adjust": 403, "pause": 403},
}


def printed(text: str) -> dict[str, str]:
    """username → password, as the demo prints them."""
    found = re.findall(r"^Console: \S+/console/\s+user (\S+)\s+password (\S+)", text, re.M)
    return dict(found)


def test_each_demo_operator_signs_in_and_sees_what_its_role_allows(make_account, settings):
    settings.STAFF_2FA = False  # the demo's setting (SOLDE_DEMO without SOLDE_STAFF_2FA)
    sp = make_account(2000).supply_point
    logins = printed(make_operator_logins())
    assert set(logins) == set(SEES)
    urls = {
        "dashboard": "/console/dashboard/",
        "migration": "/console/migration/",
        "adjust": f"/console/supply-points/{sp.pk}/adjust/",
        "pause": f"/console/supply-points/{sp.pk}/pause/",
    }
    for username, allowed in SEES.items():
        c = Client()
        r = c.post("/console/login/", {"username": username, "password": logins[username]})
        assert r.status_code == 302 and r["Location"] == "/console/", username
        home = c.get("/console/")
        assert home.status_code == 200 and username in home.content.decode()
        assert c.get("/console/queues/rejected-readings/").status_code == 200
        got = {name: c.get(url).status_code for name, url in urls.items()}
        assert got == allowed, username
        # The menu offers what the role may open, nothing else.
        menu = home.content.decode()
        assert ('href="/console/dashboard/"' in menu) == (allowed["dashboard"] == 200)
        assert ('href="/console/migration/"' in menu) == (allowed["migration"] == 200)


def test_running_the_demo_again_keeps_one_account_each_and_puts_the_role_back():
    make_operator_logins()
    agent = User.objects.get(username="agent.demo")
    agent.groups.clear()
    agent.set_password("changed")
    agent.save()
    text = make_operator_logins()
    assert User.objects.filter(username__endswith=".demo").count() == 4
    agent = User.objects.get(username="agent.demo")
    assert agent.check_password(printed(text)["agent.demo"])
    assert list(agent.groups.values_list("name", flat=True)) == ["Agent centre d'appels"]
    assert all(
        u.is_staff and not u.is_superuser for u in User.objects.filter(username__endswith=".demo")
    )
