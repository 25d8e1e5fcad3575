"""The Content Security Policy in a real browser: the portal's pages and the admin's login and
change lists run with no violation (no inline script or style, nothing from elsewhere), and
their scripts still work under it (quick amounts, htmx refresh, charts)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import transaction

from tests.e2e.test_portal_journey import consumption_history
from tests.e2e.texts import PASSWORD

# Collects violations as the page sees them (init scripts run outside the page's CSP).
LISTEN = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


@pytest.fixture
def watched(browser, live_server):
    context = browser.new_context()
    context.add_init_script(LISTEN)
    page = context.new_page()
    page.set_default_timeout(15000)
    console: list[str] = []
    page.on(
        "console",
        lambda m: console.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.on("pageerror", lambda exc: console.append(f"page error: {exc}"))

    def visit(path: str) -> None:
        response = page.goto(live_server.url + path)
        assert response is not None and response.status == 200, (path, response)
        assert "script-src 'self'" in response.headers["content-security-policy"]
        page.wait_for_load_state("networkidle")
        check(path)

    def check(where: str) -> None:
        violations = page.evaluate("window.__csp") + console
        assert violations == [], (where, violations)

    yield page, visit, check
    context.close()


@pytest.mark.browser
def test_portal_pages_pass_the_policy(watched, live_server, make_supply_point):
    from django.contrib.auth import get_user_model

    from solde import clock
    from solde.prepayment.services import activate

    page, visit, check = watched
    sp = make_supply_point()
    with transaction.atomic():
        activate({sp.pk: clock.now() - timedelta(days=2)})
    user = get_user_model().objects.create_user(
        "csp@example.org", "csp@example.org", PASSWORD, first_name="Maurice"
    )
    sp.customer.user = user
    sp.customer.save(update_fields=["user"])
    sp.account.refresh_from_db()
    consumption_history(sp.account)

    visit("/api/v1/docs")  # Swagger UI from our static files, drawn under the policy
    page.locator("#swagger-ui .info").wait_for()
    check("/api/v1/docs")
    for path in ("/", "/activation/", "/mot-de-passe/oublie/", "/login/"):
        visit(path)
    page.fill("#id_username", "csp@example.org")
    page.fill("#id_password", PASSWORD)
    page.locator("main form.form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/espace/$"))
    check("/espace/")
    base = f"/espace/ean/{sp.ean}/"
    for path in ("", "recharger/", "historique/", "consommation/", "alertes/"):
        visit(base + path)
        if path == "recharger/":
            page.locator("button[data-amount='20']").click()  # topup.js, not an inline handler
            assert page.input_value("#id_amount") == "20"
        if path == "consommation/":
            assert page.locator("canvas").count() >= 1  # Chart.js drew under the policy
    visit("/espace/profil/")
    visit("/espace/contact/")
    visit(base)
    page.locator("[hx-get]").first.click()  # htmx refresh, without its inline indicator style
    page.wait_for_load_state("networkidle")
    check("htmx refresh")


@pytest.mark.browser
def test_admin_passes_the_policy(watched, db, make_supply_point):
    from django.contrib.auth import get_user_model

    page, visit, check = watched
    make_supply_point()
    get_user_model().objects.create_superuser("operator", "op@example.org", PASSWORD)
    visit("/admin/login/")
    page.fill("#id_username", "operator")
    page.fill("#id_password", PASSWORD)
    page.locator("input[type=submit]").click()
    page.wait_for_url(re.compile(r"/admin/$"))
    check("/admin/")
    for path in (
        "/admin/registry/supplypoint/",
        "/admin/orders/order/",
        "/admin/prepayment/prepaymentaccount/",
    ):
        visit(path)
    page.locator("#result_list a").first.click()  # a change form, with its widgets
    page.wait_for_load_state("networkidle")
    check("change form")
