"""Operators: a new activation code from the command line or the admin."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command

from solde import clock
from solde.portal.models import ActivationCode
from solde.portal.services import PortalError, find_code
from tests.codes import issued_code


def test_command_issues_a_new_code_without_showing_it(active_sp, capsys):
    old = issued_code(active_sp)
    call_command("activation_code", active_sp.ean)
    out = capsys.readouterr().out
    assert "New activation code issued" in out and not re.search(r"PP[0-9A-Z]{8}", out)
    code = issued_code(active_sp)
    assert code != old and find_code(code).supply_point_id == active_sp.pk
    with pytest.raises(PortalError):
        find_code(old)
    assert ActivationCode.objects.filter(supply_point=active_sp).count() == 2


def test_command_refuses_an_unknown_ean(db):
    from solde.identifiers import make_ean

    with pytest.raises(Exception, match="No supply point"):
        call_command("activation_code", make_ean("54144880000099999"))


def test_admin_lists_codes_and_issues_new_ones(admin_client, active_sp):
    r = admin_client.get("/admin/portal/activationcode/")
    assert r.status_code == 200 and active_sp.ean in r.content.decode()
    code = ActivationCode.objects.get(supply_point=active_sp)
    r = admin_client.post(
        "/admin/portal/activationcode/", {"action": "issue_new_code", "_selected_action": [code.pk]}
    )
    assert r.status_code == 302
    assert ActivationCode.objects.filter(supply_point=active_sp).count() == 2
    # The reissue ended the first code: one valid code per supply point.
    code.refresh_from_db()
    assert code.expires_at <= clock.now()


def test_portal_demo_logins(client, active_sp, make_supply_point, activate, capsys):
    second = activate(make_supply_point())
    call_command("portal_demo")
    out = capsys.readouterr().out
    assert "client.demo@example.org" in out and second.ean in out
    code = re.search(r"activation code (PP[0-9A-Z]{8})", out).group(1)
    assert find_code(code).supply_point_id == second.pk
    r = client.post(
        "/login/", {"username": "client.demo@example.org", "password": "demo-solde-2026"}
    )
    assert r.status_code == 302 and r.url == "/espace/"
    # Running it again keeps the same login.
    call_command("portal_demo")
    assert "client.demo@example.org" in capsys.readouterr().out
