"""Personal data (GDPR): a customer downloads everything Solde holds about them, and only that;
a supervisor erases the person behind a closed customer after the retention period, keeping
the ledger; no log line of these paths carries a password, code, e-mail or full IBAN."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from io import StringIO

import pytest
from auditlog.models import LogEntry
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command
from django.db.models import Sum
from django.urls import reverse

from solde import clock
from solde.backoffice import services as console
from solde.backoffice.models import OperatorAction
from solde.ledger.models import Entry
from solde.ledger.services import verify
from solde.notifications.models import ContactPreference, ExtraRecipient, Message
from solde.prepayment.models import PrepaymentAccount
from solde.registry.models import Customer, SupplyPoint
from solde.settlement import services as settlement
from solde.settlement.models import Statement
from solde.topups.models import BankLine, BankStatement, SuspenseItem, Topup
from tests.portal.conftest import PASSWORD

pytestmark = pytest.mark.django_db

IBAN = "BE68539007547034"
DOWNLOAD = "portal:download_data"


@pytest.fixture
def household(active_sp, user, operator):
    """The logged-in customer's account with a bank transfer (name + IBAN), a preference and
    an extra recipient, a message sent to them."""
    customer = active_sp.customer
    ContactPreference.objects.create(customer=customer, email=True, sms=True)
    ExtraRecipient.objects.create(
        customer=customer, name="Aline Aidante", email="aline@example.org", phone="+32470999999"
    )
    stmt = BankStatement.objects.create(statement_id="S1", imported_at=clock.now())
    line = BankLine.objects.create(
        key="L1",
        statement=stmt,
        amount_cents=3000,
        debtor_name="Maurice Dupont",
        debtor_iban=IBAN,
    )
    item = SuspenseItem.objects.create(
        line=line, amount_cents=3000, reason="no OGM", created_at=clock.now()
    )
    console.match_suspense(
        operator("backoffice"), item, active_sp.customer_reference, "Nom et montant"
    )
    return active_sp


def download(client):
    response = client.post(reverse(DOWNLOAD))
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == "application/json"
    assert "attachment" in response["Content-Disposition"]
    return json.loads(response.content)


# --- Access -----------------------------------------------------------------------------------


def test_the_export_has_the_customers_data_and_not_the_neighbours(client, household, other_sp):
    me = household.customer
    client.force_login(me.user)
    data = download(client)
    assert data["identity"]["last_name"] == "Dupont"
    assert data["identity"]["email"] == me.email
    assert data["contact_preferences"]["sms"] is True
    assert [r["name"] for r in data["extra_recipients"]] == ["Aline Aidante"]
    [sp] = data["supply_points"]
    assert sp["ean"] == household.ean and sp["address"]["city"] == "Liège"
    assert sp["account"]["state"] == "active"
    assert (
        sp["account"]["balance_cents"]
        == PrepaymentAccount.objects.get(supply_point=household).balance_account.balance_cents
    )
    assert [t["amount_cents"] for t in sp["topups"]] == [3000]
    assert sp["topups"][0]["payer"] == "Maurice Dupont"
    assert 3000 in [line["amount_cents"] for line in sp["statement"]]
    assert data["portal_login"]["username"] == me.user.username
    assert data["portal_activity"]["activation_codes"]  # issued at activation
    text = json.dumps(data)
    # Never another customer's data, never a secret.
    assert other_sp.ean not in text and "autre@example.org" not in text
    assert "pbkdf2" not in text and "code_hash" not in text and "password" not in text
    for code in household.activation_codes.values_list("code_hash", flat=True):
        assert code not in text


def test_the_page_offers_the_download(client, household):
    client.force_login(household.customer.user)
    page = client.get(reverse("portal:profile")).content.decode()
    assert reverse(DOWNLOAD) in page and "Télécharger mes données" in page


def test_anonymous_and_staff_cannot_download_and_get_is_refused(client, household, operator):
    response = client.post(reverse(DOWNLOAD))
    assert response.status_code == 302 and "/login/" in response["Location"]
    client.force_login(operator("supervisor"))
    assert client.post(reverse(DOWNLOAD)).status_code == 403  # staff: no customer of their own
    client.force_login(household.customer.user)
    assert client.get(reverse(DOWNLOAD)).status_code == 405


def test_the_neighbour_downloads_only_their_own(client, household, other_sp):
    client.force_login(other_sp.customer.user)
    data = download(client)
    text = json.dumps(data)
    assert [s["ean"] for s in data["supply_points"]] == [other_sp.ean]
    assert household.ean not in text and "Aline" not in text and IBAN not in text


# --- Erasure ----------------------------------------------------------------------------------


def close(sp, days_ago: int) -> None:
    PrepaymentAccount.objects.filter(supply_point=sp).update(
        state="closed", closed_at=clock.now() - timedelta(days=days_ago)
    )


def settlement_totals() -> list[tuple]:
    return list(
        Statement.objects.order_by("pk").values_list("supplier_id", "period_start", "total_cents")
    )


def test_erasure_removes_the_person_and_keeps_the_ledger(household, operator, settings):
    settings.PERSONAL_DATA_RETENTION_DAYS = 3650
    me = household.customer
    user_id = me.user_id
    Message.objects.create(
        event=household.events.first(),
        customer=me,
        channel="email",
        recipient=me.email,
        recipient_name="Maurice Dupont",
        language="fr",
        subject="Votre solde",
        body="Bonjour Maurice Dupont",
        created_at=clock.now(),
    )
    settlement.settle("week", clock.local(clock.now()).date(), issue=True)
    totals = settlement_totals()
    assert totals and sum(t[2] for t in totals) >= 3000
    money = Entry.objects.aggregate(s=Sum("amount_cents"), n=Sum("id"))
    topup = Topup.objects.get(supply_point=household)
    close(household, 3651)
    supervisor = operator("supervisor")

    console.erase_customer(supervisor, me, "Demande d'effacement du 01/11, dossier 42")

    me.refresh_from_db()
    household.refresh_from_db()
    assert (me.first_name, me.last_name, me.email, me.phone) == ("Effacé", f"#{me.pk}", "", "")
    assert household.street == household.city == ""
    assert not get_user_model().objects.filter(pk=user_id).exists()
    assert not ContactPreference.objects.filter(customer=me).exists()
    assert not ExtraRecipient.objects.filter(customer=me).exists()
    for m in Message.objects.filter(customer=me):
        assert (m.recipient, m.recipient_name, m.body) == ("erased", "", "")
    line = BankLine.objects.get(key="L1")
    assert line.debtor_name == "" and line.debtor_iban == "BE…7034"
    topup.refresh_from_db()
    assert topup.payer == "" and topup.amount_cents == 3000
    # The audit trail keeps who, when and why, not the erased values.
    for entry in LogEntry.objects.all():
        assert "Dupont" not in json.dumps(entry.changes) and "Dupont" not in entry.object_repr
    # The ledger and the settlement are untouched.
    assert verify().ok
    assert Entry.objects.aggregate(s=Sum("amount_cents"), n=Sum("id")) == money
    assert settlement_totals() == totals
    assert SupplyPoint.objects.filter(ean=household.ean, customer=me).exists()
    action = OperatorAction.objects.get(kind="erasure")
    assert (action.user, action.reason, action.customer) == (
        supervisor,
        "Demande d'effacement du 01/11, dossier 42",
        me,
    )
    assert action.details["changes"]["bank_lines"] == 1


def test_refused_for_an_open_account_or_within_retention(household, operator, settings):
    settings.PERSONAL_DATA_RETENTION_DAYS = 3650
    supervisor = operator("supervisor")
    me = household.customer
    with pytest.raises(console.ActionError, match="pas clôturé"):
        console.erase_customer(supervisor, me, "Demande du client")
    close(household, 3649)
    with pytest.raises(console.ActionError, match="conservées jusqu'au"):
        console.erase_customer(supervisor, me, "Demande du client")
    me.refresh_from_db()
    assert me.last_name == "Dupont" and me.user_id is not None
    assert not OperatorAction.objects.filter(kind="erasure").exists()
    # A shorter retention set by the DSO's policy allows it.
    settings.PERSONAL_DATA_RETENTION_DAYS = 365
    console.erase_customer(supervisor, me, "Demande du client")
    assert Customer.objects.get(pk=me.pk).last_name == f"#{me.pk}"


def test_only_a_supervisor_with_a_reason(household, operator):
    close(household, 4000)
    me = household.customer
    for role in ("agent", "backoffice", "auditor"):
        with pytest.raises(PermissionDenied):
            console.erase_customer(operator(role), me, "Demande du client")
    with pytest.raises(console.ActionError, match="raison"):
        console.erase_customer(operator("supervisor"), me, "  ")
    assert Customer.objects.get(pk=me.pk).last_name == "Dupont"


def test_the_dry_run_shows_and_writes_nothing(household, operator):
    close(household, 4000)
    me = household.customer
    plan = console.erase_customer(operator("supervisor"), me, "Vérification", dry_run=True)
    assert plan.changes["customer"] == 1 and plan.changes["bank_lines"] == 1
    assert plan.changes["extra_recipients"] == 1 and plan.changes["portal_login"] == 1
    me.refresh_from_db()
    assert me.last_name == "Dupont" and me.user_id is not None
    assert BankLine.objects.get(key="L1").debtor_iban == IBAN
    assert not OperatorAction.objects.filter(kind="erasure").exists()


def test_the_console_page_dry_run_then_erase(household, console_client, make_supply_point):
    close(household, 4000)
    me = household.customer
    url = reverse("console:erase", args=[me.pk])
    c = console_client("agent")
    assert c.get(url).status_code == 403
    c = console_client("supervisor")
    page = c.post(url, {"mode": "dry_run", "reason": "Contrôle"})
    assert page.status_code == 200 and "Lignes bancaires" in page.content.decode()
    assert Customer.objects.get(pk=me.pk).last_name == "Dupont"
    response = c.post(url, {"mode": "erase", "reason": "Demande écrite du 12/11"})
    assert response.status_code == 302
    assert Customer.objects.get(pk=me.pk).last_name == f"#{me.pk}"
    # An open account: refused on the page with the sentence, nothing erased.
    neighbour = make_supply_point(email="voisin@example.org").customer
    refused = c.post(
        reverse("console:erase", args=[neighbour.pk]), {"mode": "erase", "reason": "Demande"}
    )
    assert refused.status_code == 400 and "pas clôturé" in refused.content.decode()
    assert Customer.objects.get(pk=neighbour.pk).email == "voisin@example.org"


def test_the_command(household, operator):
    supervisor = operator("supervisor")
    me = household.customer

    def erase(who: str, user, *extra: str) -> str:
        out = StringIO()
        call_command(
            "erase-customer",
            who,
            "--operator",
            user.username,
            "--reason",
            "Demande",
            *extra,
            stdout=out,
        )
        return out.getvalue()

    with pytest.raises(CommandError, match="pas clôturé"):
        erase(household.ean, supervisor)
    close(household, 4000)
    out = erase(household.customer_reference, supervisor, "--dry-run")
    assert "Would erase" in out and "bank_lines: 1" in out
    assert Customer.objects.get(pk=me.pk).last_name == "Dupont"
    with pytest.raises(CommandError, match="supervisors"):
        erase(str(me.pk), operator("agent"))
    assert "Erased" in erase(str(me.pk), supervisor)
    assert Customer.objects.get(pk=me.pk).last_name == f"#{me.pk}"
    assert OperatorAction.objects.get(kind="erasure").user == supervisor


# --- Logs -------------------------------------------------------------------------------------


def test_no_log_line_of_these_paths_carries_secrets_or_the_person(
    client, household, operator, caplog
):
    from solde.logs import RedactSecrets

    me = household.customer
    caplog.set_level(logging.DEBUG)
    client.post(reverse("portal:login"), {"username": me.email, "password": PASSWORD})
    client.force_login(me.user)
    download(client)
    close(household, 4000)
    console.erase_customer(operator("supervisor"), me, "Demande")
    assert any("erased" in r.getMessage() for r in caplog.records)
    assert any("downloaded" in r.getMessage() for r in caplog.records)
    redacting = RedactSecrets()
    for record in caplog.records:
        redacting.filter(record)
        line = record.getMessage()
        for secret in (PASSWORD, IBAN, "BE68 5390 0754 7034", "aline@example.org", "Dupont"):
            assert secret not in line, line
