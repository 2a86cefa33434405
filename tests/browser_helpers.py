"""Headless Debian chromium for the browser tests (imported, not a pytest conftest).

Needs `pip install playwright` and `apt-get install -y chromium` (never `playwright install`,
which downloads a browser build); a test module skips itself without them, saying so.
"""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM = os.environ.get("ATTNLAB_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


def launch(playwright):
    """Chromium launched the way every browser test launches it."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


@pytest.fixture(scope="module")
def browser():
    """One chromium for a test module (import it there: `from browser_helpers import browser`)."""
    from playwright import sync_api

    with sync_api.sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()
