"""The statement of accessibility (web accessibility directive) is on every page's footer and
reads in the visitor's language."""

from __future__ import annotations

from html import unescape

import pytest


@pytest.mark.parametrize(
    "lang,title",
    [
        ("fr", "Déclaration d'accessibilité"),
        ("nl", "Toegankelijkheidsverklaring"),
        ("de", "Erklärung zur Barrierefreiheit"),
        ("en", "Accessibility statement"),
    ],
)
def test_statement_in_each_language_and_linked_from_the_footer(client, db, lang, title):
    client.cookies["django_language"] = lang
    home = unescape(client.get("/").content.decode())
    footer = home[home.index("<footer") :]
    assert 'href="/accessibilite/"' in footer
    page = unescape(client.get("/accessibilite/").content.decode())
    assert f"<h1>{title}</h1>" in page
    assert "WCAG" in page and "2016/2102" in page


def test_the_customer_space_links_it_too(logged, active_sp):
    page = logged.get("/espace/").content.decode()
    assert 'href="/accessibilite/"' in page[page.index("<footer") :]
