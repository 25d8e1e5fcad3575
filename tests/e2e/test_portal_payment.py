"""Online top-up in a real browser through the top-ups app and its fake payment provider.

Login → "Nouveau paiement" → the provider's checkout page → "paid" → back to the confirmation
→ balance and history updated.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import transaction

from solde.topups import fake_provider
from tests.e2e.texts import ARTIFACTS, FRENCH, PASSWORD, VIEWPORTS, texts


@pytest.fixture
def provider(settings):
    server = fake_provider.start(0)
    settings.PAYMENT_PROVIDER = "fake"
    settings.PAYMENT_PROVIDER_URL = server.url
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.browser
@pytest.mark.parametrize("viewport", ["phone", "desktop"])
@pytest.mark.parametrize("lang", ["fr", "nl"])
def test_online_topup_through_the_provider(
    browser, live_server, make_supply_point, provider, lang, viewport
):
    from django.contrib.auth import get_user_model

    from solde import clock
    from solde.prepayment.services import activate
    from solde.registry.models import Dso

    Dso.objects.get_or_create(code="RESA", defaults={"name": "RESA"})
    sp = make_supply_point(language=lang)  # the login switches to the saved language
    with transaction.atomic():
        activate({sp.pk: clock.now() - timedelta(days=2)})
    email = f"pay.{lang}.{viewport}@example.org"
    user = get_user_model().objects.create_user(email, email, PASSWORD, first_name="Maurice")
    sp.customer.user = user
    sp.customer.save(update_fields=["user"])
    t = texts(lang)
    # Other languages really are translated (not the French falling through).
    assert lang == "fr" or all(t[k] != FRENCH[k] for k in ("balance_nav", "pay", "login"))
    context = browser.new_context(viewport=VIEWPORTS[viewport], locale=f"{lang}-BE")
    context.add_cookies([{"name": "django_language", "value": lang, "url": live_server.url}])
    page = context.new_page()
    page.set_default_timeout(15000)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def shot(name: str) -> None:
        page.screenshot(path=str(ARTIFACTS / f"pay-{lang}-{viewport}-{name}.png"), full_page=True)

    page.goto(live_server.url + "/login/")
    page.fill("#id_username", email)
    page.fill("#id_password", PASSWORD)
    page.locator("main").get_by_role("button", name=t["login"]).click()
    page.wait_for_url(re.compile(r"/espace/$"))

    page.get_by_role("link", name=t["balance_nav"]).click()
    page.get_by_role("link", name=t["new_payment"]).first.click()
    page.fill("#id_amount", "25,50")
    page.get_by_role("button", name=t["pay"]).click()

    # The provider's hosted checkout: the customer pays.
    page.wait_for_url(re.compile(r"/checkout/tr_\w+$"))
    shot("checkout")
    page.get_by_role("button", name="paid").click()

    page.wait_for_url(re.compile(r"/recharger/retour/$"))
    assert t["paid"] in page.get_by_test_id("payment-result").inner_text()
    assert "35,50" in page.get_by_test_id("balance").inner_text()
    shot("confirmation")

    page.get_by_role("link", name=t["history_nav"], exact=True).click()
    row = page.locator("tr", has_text=t["topup_row"])
    assert "25,50" in row.first.inner_text()
    shot("history")
    context.close()
