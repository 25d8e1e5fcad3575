"""The customer's journey in a real browser (Debian chromium through Playwright).

Activation code → personal data → account creation → e-mail link → password → login →
balance → top-up (provider faked: it sends the customer straight back) → alert settings,
on a phone and a desktop viewport, in French and Dutch. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction

from tests.codes import issued_code
from tests.e2e.texts import ARTIFACTS, FRENCH, PASSWORD, VIEWPORTS, texts


@dataclass
class FakePayment:
    pk: int
    account_id: int
    amount_cents: int
    checkout_url: str
    status: str = "open"


@pytest.fixture
def instant_provider(monkeypatch):
    """solde.topups.online's provider calls faked: it pays at once and sends the customer back."""
    from solde.ledger.services import collections_account
    from solde.prepayment.models import PrepaymentAccount
    from solde.prepayment.services import credit
    from solde.topups import online

    payments: dict[int, FakePayment] = {}

    def start_payment(account, amount_cents, method, return_url, remember=False):
        p = FakePayment(len(payments) + 1, account.pk, amount_cents, return_url)
        payments[p.pk] = p
        return p

    def refresh_payment(payment_id):
        p = payments[int(payment_id)]
        if p.status == "open":
            with transaction.atomic():
                credit(
                    PrepaymentAccount.objects.get(pk=p.account_id),
                    p.amount_cents,
                    key=f"e2e-online:{p.pk}",
                    kind="topup",
                    counter_account_id=collections_account("online").pk,
                )
            p.status = "paid"
        return p

    monkeypatch.setattr(online, "start_payment", start_payment)
    monkeypatch.setattr(online, "refresh_payment", refresh_payment)
    return payments


def consumption_history(account):
    """Forty days of closed days, and the same weeks a year earlier, for the charts."""
    from solde import clock
    from solde.prepayment.models import DayCharge

    end = clock.today() - timedelta(days=1)
    rows = []
    for i in range(40):
        day = end - timedelta(days=i)
        for year_back, scale in ((0, 1.0), (1, 0.8)):
            d = day.replace(year=day.year - year_back)
            rows.append(
                DayCharge(
                    account=account,
                    day=d,
                    closed_at=clock.now(),
                    recovery_cents=0,
                    kwh={
                        "1.8.1": f"{(4 + i % 5) * scale:.3f}",
                        "1.8.2": f"{(2 + i % 3) * scale:.3f}",
                    },
                    charge_cents=int((6 + i % 5 + i % 3) * 30 * scale),
                )
            )
    DayCharge.objects.bulk_create(rows)
    account.last_closed_day = end
    account.save(update_fields=["last_closed_day"])


@pytest.mark.browser
@pytest.mark.parametrize("viewport", ["phone", "desktop"])
@pytest.mark.parametrize("lang", ["fr", "nl"])
def test_customer_journey(
    browser, live_server, make_supply_point, instant_provider, lang, viewport
):
    from solde import clock
    from solde.prepayment.services import activate
    from solde.registry.models import Dso

    # A live server needs a transactional database, flushed between tests: the DSO rows of the
    # data migration may be gone.
    Dso.objects.get_or_create(code="RESA", defaults={"name": "RESA"})
    sp = make_supply_point(email="maurice.dupont@example.org", language=lang)
    with transaction.atomic():
        activate({sp.pk: clock.now() - timedelta(days=41)})
    sp.account.refresh_from_db()
    consumption_history(sp.account)
    code = issued_code(sp)
    t = texts(lang)
    # Other languages really are translated (not the French falling through).
    assert lang == "fr" or all(t[k] != FRENCH[k] for k in ("balance_nav", "pay", "login"))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport=VIEWPORTS[viewport], locale=f"{lang}-BE")
    page = context.new_page()
    page.set_default_timeout(15000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    n = iter(range(1, 100))

    def shot(name: str) -> None:
        page.screenshot(
            path=str(ARTIFACTS / f"{lang}-{viewport}-{next(n):02d}-{name}.png"), full_page=True
        )

    # Home, in the customer's language through the switch.
    page.goto(live_server.url + "/")
    if lang != "fr":
        page.select_option("#lang-select", lang)
        with page.expect_navigation():
            page.locator("form.lang button").click()
    assert page.locator("html").get_attribute("lang") == lang
    shot("home")

    # 1. The activation code, typed loosely.
    page.get_by_role("link", name=t["code_link"]).first.click()
    page.fill("#id_code", f"{code[:2].lower()}-{code[2:6]} {code[6:].lower()}")
    shot("code")
    page.get_by_role("button", name=t["activate"]).click()

    # 2. Personal data, corrected.
    page.wait_for_url(re.compile(r"/activation/donnees/$"))
    assert page.input_value("#id_first_name") == "Maurice"
    page.fill("#id_first_name", "Jean-Guillaume")
    page.fill("#id_email", f"jg.{lang}.{viewport}@example.org")
    page.fill("#id_phone", "+32 470 12 34 56")
    shot("details")
    page.get_by_role("button", name=t["create"]).click()
    page.wait_for_url(re.compile(r"/activation/envoye/$"))
    page.get_by_role("heading", name=t["confirmed"]).wait_for()
    shot("sent")

    # 3. The link of the confirmation e-mail → the password.
    assert mail.outbox, "no confirmation e-mail"
    link = re.search(r"(http://\S+/activation/mot-de-passe/\S+/)", mail.outbox[-1].body).group(1)
    page.goto(link)
    page.fill("#id_new_password1", PASSWORD)
    page.fill("#id_new_password2", PASSWORD)
    shot("password")
    page.get_by_role("button", name=t["choose_pw"]).click()
    page.wait_for_url(re.compile(r"/activation/pret/$"))
    page.get_by_role("link", name=t["ready"]).click()

    # 4. Login with the e-mail.
    page.fill("#id_username", f"JG.{lang}.{viewport}@example.org")
    page.fill("#id_password", PASSWORD)
    page.locator("main").get_by_role("button", name=t["login"]).click()
    page.wait_for_url(re.compile(r"/espace/$"))
    assert t["welcome"] in page.content() and sp.ean in page.content()
    assert page.get_by_text(t["banner"]).is_visible()
    shot("dashboard")
    page.get_by_role("button", name=t["read"]).click()
    page.get_by_text(t["banner"]).wait_for(state="detached")

    # 5. The balance, one tap away.
    page.get_by_role("link", name=t["balance_nav"]).click()
    page.wait_for_url(re.compile(rf"/espace/ean/{sp.ean}/$"))
    assert "10,00" in page.get_by_test_id("balance").inner_text()
    assert t["normal"] in page.content()
    # "Actualiser les données" swaps the balance block in place (htmx): no page reload.
    page.evaluate("window.__notReloaded = true")
    with page.expect_response(re.compile(r"/solde/$")):
        page.get_by_role("button", name=t["refresh"]).click()
    assert page.evaluate("window.__notReloaded === true")
    assert "10,00" in page.get_by_test_id("balance").inner_text()
    shot("balance")

    # 6. Top-up: the provider sends the customer straight back to the confirmation.
    page.get_by_role("link", name=t["new_payment"]).first.click()
    page.fill("#id_amount", "20")
    page.check("#id_remember")
    shot("topup")
    page.get_by_role("button", name=t["pay"]).click()
    page.wait_for_url(re.compile(r"/recharger/retour/$"))
    assert t["paid"] in page.get_by_test_id("payment-result").inner_text()
    assert "30,00" in page.get_by_test_id("balance").inner_text()
    shot("topup-done")

    # 7. History and consumption.
    page.get_by_role("link", name=t["history_nav"], exact=True).click()
    page.wait_for_url(re.compile(r"/historique/$"))
    assert page.locator("td", has_text=t["topup_row"]).count() >= 1
    shot("history")
    page.get_by_role("link", name=t["consumption_nav"], exact=True).click()
    page.wait_for_url(re.compile(r"/consommation/$"))
    page.wait_for_function("window.soldeCharts && window.soldeCharts.daily.data.labels.length")
    page.get_by_role("button", name="€", exact=True).click()
    unit = page.evaluate("window.soldeCharts.daily.data.datasets[0].label")
    assert unit == t["cost"]
    page.get_by_role("button", name="kWh", exact=True).click()
    shot("consumption")

    # 8. Alert settings saved.
    page.get_by_role("link", name=t["alerts_nav"], exact=True).click()
    page.fill("#id_threshold", "7,50")
    page.fill("#id_days", "4")
    page.get_by_role("button", name=t["save_thresholds"]).click()
    page.get_by_text(t["saved"]).wait_for()
    shot("alerts")
    sp.account.refresh_from_db()
    assert (sp.account.low_credit_threshold_cents, sp.account.low_credit_days) == (750, 4)
    # A social worker is told too (the notifications app's contact services).
    page.fill("#id_recipient-name", "CPAS de Liège")
    page.fill("#id_recipient-email", "assistante@example.org")
    page.get_by_role("button", name=t["add_recipient"]).click()
    page.get_by_text(t["recipient_added"]).wait_for()
    assert page.get_by_text("assistante@example.org").is_visible()
    shot("recipient")
    assert errors == [], errors
    context.close()
