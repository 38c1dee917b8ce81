"""Real-browser fixtures: the app under uvicorn on a free local port, driven by headless Chromium.

The live server serves the same ``ctx`` the ``people`` fixture filled, so every page
test runs on SQLite and on PostgreSQL like the rest of the suite. Chromium is
Debian's (``/usr/bin/chromium``); Playwright's own browser downloads are never used.

The session cookie is ``Secure`` (``cookie_secure`` defaults to true) and the live
server speaks plain http. That still works: Chromium treats http://127.0.0.1 as a
potentially trustworthy (secure) origin, so it stores and sends Secure cookies there.
``test_the_session_cookie_is_httponly_secure_and_samesite_strict`` checks the cookie
really is Secure and is sent back, so the live server keeps the production cookie
settings (no ``cookie_secure=False`` copy is needed).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

#: Debian's Chromium; elsewhere (Ubuntu's snap: /snap/bin/chromium) set HSCLINK_TEST_CHROMIUM.
CHROMIUM = Path(os.environ.get("HSCLINK_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
HERE = Path(__file__).resolve().parent
#: Playwright's default waits are 30 s; a local server answers in milliseconds.
TIMEOUT_MS = 10_000


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Everything under tests/web drives a real browser: mark it so it can be (de)selected."""
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.browser)


# --------------------------------------------------------------------------- Chromium


def _apt_get(*args: str) -> bool:
    try:
        done = subprocess.run(
            ["apt-get", *args],
            check=False,
            capture_output=True,
            timeout=600,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _install_chromium() -> None:
    """Best effort, as root only: Debian's chromium package (never Playwright's download)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("apt-get") is None:
        return
    if not _apt_get("install", "-y", "chromium"):
        _apt_get("update")
        _apt_get("install", "-y", "chromium")


@pytest.fixture(scope="session")
def chromium_executable() -> Path:
    """/usr/bin/chromium, installed with apt-get if missing; required when CI=true."""
    return _require_chromium()


def _require_chromium() -> Path:
    if not CHROMIUM.exists():
        _install_chromium()
    if not CHROMIUM.exists():
        reason = (
            f"browser tests need Debian's Chromium at {CHROMIUM} "
            "(apt-get install chromium, as root); it is missing and could not be installed"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(chromium_executable: Path, playwright_driver: Playwright) -> Iterator[Browser]:
    """One headless Chromium for the whole run; each test gets its own context."""
    launched = playwright_driver.chromium.launch(
        executable_path=str(chromium_executable), headless=True, args=CHROMIUM_ARGS
    )
    yield launched
    launched.close()


@pytest.fixture
def new_context(browser: Browser) -> Iterator[Callable[[], BrowserContext]]:
    """Opens fresh browser profiles (another person's browser); all closed at teardown."""
    opened: list[BrowserContext] = []

    def open_context() -> BrowserContext:
        context = browser.new_context(locale="en-GB", timezone_id="UTC")
        context.set_default_timeout(TIMEOUT_MS)
        context.set_default_navigation_timeout(TIMEOUT_MS)
        opened.append(context)
        return context

    yield open_context
    for context in reversed(opened):
        context.close()


@pytest.fixture
def browser_context(new_context: Callable[[], BrowserContext]) -> BrowserContext:
    """A fresh profile per test: no cookies or storage shared between tests."""
    return new_context()


@pytest.fixture
def page(browser_context: BrowserContext) -> Page:
    return browser_context.new_page()
