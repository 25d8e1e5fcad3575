"""The portal is accessible (WCAG 2.1 AA, the European web accessibility directive): axe-core
finds no violation on any page, in French and Dutch, and a customer can log in, read the
balance and reach the top-up with the keyboard alone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction

from tests.e2e.axe import assert_no_axe_violations
from tests.e2e.test_portal_journey import consumption_history
from tests.e2e.texts import PASSWORD

PUBLIC = [
    "/",
    "/login/",
    "/activation/",
    "/mot-de-passe/oublie/",
    "/mot-de-passe/envoye/",
    "/mot-de-passe/change/",
    "/activation/envoye/",
    "/activation/pret/",
    "/accessibilite/",
]
SPACE = [
    "/espace/",
    "/espace/profil/",
    "/espace/contact/",
    "/espace/ean/{ean}/",
    "/espace/ean/{ean}/recharger/",
    "/espace/ean/{ean}/historique/",
    "/espace/ean/{ean}/consommation/",
    "/espace/ean/{ean}/alertes/",
    "/espace/ean/{ean}/alertes/historique/",
]


@pytest.fixture
def customer(live_server, make_supply_point):
    from django.contrib.auth import get_user_model

    from solde import clock
    from solde.prepayment.services import activate
    from solde.registry.models import Dso

    Dso.objects.get_or_create(code="RESA", defaults={"name": "RESA"})
    sp = make_supply_point(email="annick.clavier@example.org")
    with transaction.atomic():
        activate({sp.pk: clock.now() - timedelta(days=41)})
    sp.account.refresh_from_db()
    consumption_history(sp.account)
    user = get_user_model().objects.create_user(
        username=sp.customer.email, email=sp.customer.email, password=PASSWORD
    )
    sp.customer.user = user
    sp.customer.save(update_fields=["user"])
    return sp


def keyboard_login(page, url: str, email: str) -> None:
    """Log in without the mouse: Tab to each field, type, Enter."""
    page.goto(url + "/login/")
    page.locator("input[name=username]").focus()
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.name") == "password"
    page.keyboard.type(PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["fr", "nl"])
def test_every_portal_page_has_no_wcag_violation(browser, live_server, customer, lang):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale=f"{lang}-BE")
    context.add_cookies([{"name": "django_language", "value": lang, "url": live_server.url}])
    page = context.new_page()
    page.set_default_timeout(15000)
    for path in PUBLIC:
        page.goto(live_server.url + path)
        assert_no_axe_violations(page)
    customer.customer.language = lang
    customer.customer.save(update_fields=["language"])
    keyboard_login(page, live_server.url, customer.customer.email)
    assert page.url.endswith("/espace/")
    for path in SPACE:
        page.goto(live_server.url + path.format(ean=customer.ean))
        page.wait_for_load_state("networkidle")
        assert_no_axe_violations(page)
    context.close()


@pytest.mark.browser
def test_keyboard_alone_reaches_the_top_up_and_the_statement(browser, live_server, customer):
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="fr-BE")
    page = context.new_page()
    page.set_default_timeout(15000)
    keyboard_login(page, live_server.url, customer.customer.email)
    # Tab through the page until the menu's top-up link has the focus, then Enter follows it
    # (one EAN: straight to its top-up page); each focused element shows a focus indicator.
    for _ in range(60):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "() => { const e = document.activeElement; const s = getComputedStyle(e);"
            " return {tag: e.tagName + '.' + e.className, href: e.getAttribute('href') || '',"
            " outline: s.outlineStyle,"
            " shadow: s.boxShadow}; }"
        )
        assert focused["outline"] != "none" or focused["shadow"] != "none", focused
        if focused["href"].endswith(("/choisir/topup/", "/recharger/")):
            break
    else:
        pytest.fail("the top-up link cannot be reached with Tab")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith("/recharger/")
    # The footer's statement of accessibility is reachable the same way.
    page.goto(live_server.url + "/espace/")
    link = page.locator("footer a[href$='/accessibilite/']")
    link.focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith("/accessibilite/")
    context.close()
