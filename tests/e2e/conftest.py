"""The browser for the journeys: Debian chromium driven by Playwright (sync API)."""

from __future__ import annotations

import os

import pytest

from tests.conftest import require
from tests.e2e.texts import CHROMIUM
from tests.headend.fixtures import *  # noqa: F403

# Playwright's sync API runs an event loop in the test thread; the ORM calls the tests make
# there are plain synchronous code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="module")
def browser():
    require("Chromium", os.path.exists(CHROMIUM))
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield b
        b.close()
