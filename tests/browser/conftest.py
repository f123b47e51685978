"""Browser tests drive the real stack, started like the end-to-end tests do,
in Debian's chromium through Playwright (no browser download is possible).

Screenshots go to `OUTPUT` (`HOTLINE_TEST_OUTPUT`, default `test-output/` at
the project's root), for a person to look at.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e.conftest import RunningHotline, running_hotline

__all__ = ["OUTPUT", "RunningHotline", "browser", "require_browser", "running_hotline"]

CHROMIUM = shutil.which("chromium")
OUTPUT = Path(
    os.environ.get(
        "HOTLINE_TEST_OUTPUT", Path(__file__).resolve().parents[2] / "test-output"
    )
)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_browser() -> None:
    """Called at the top of each browser test module, before it imports
    Playwright: the module is skipped, with the reason, when Debian's
    chromium or Playwright (dev extras) is missing."""
    if CHROMIUM is None:
        pytest.skip(
            "Debian's chromium is not installed (apt-get install -y chromium)",
            allow_module_level=True,
        )
    pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (dev extras)"
    )


@pytest.fixture
def browser() -> Iterator[Any]:
    """Headless Debian chromium (tests skip at import when it is missing)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            launched.close()
