"""Playwright against pytest-django's live server, with Debian's Chromium.

Every page a test opens is watched for Content-Security-Policy violations and JavaScript
errors: a test fails if any occurs. Screenshots go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def browser() -> Iterator:
    if not Path(CHROMIUM).exists():
        # `make test` installs it; a run without a browser must not pass as if it had one.
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (make test does)")
    from playwright import sync_api as playwright_api

    # Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
    # to set up data are still plain synchronous calls.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with playwright_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


class Page:
    """A Playwright page on the live server that records CSP violations and JS errors."""

    def __init__(self, context, base_url: str):
        self.context = context
        self.base_url = base_url
        self.page = context.new_page()
        self.problems: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))

    def _console(self, message) -> None:
        text = message.text
        if "Content Security Policy" in text or (message.type == "error" and "404" not in text):
            self.problems.append(f"console {message.type}: {text}")

    def __getattr__(self, name):
        return getattr(self.page, name)

    def open(self, path: str):
        return self.page.goto(self.base_url + path)

    def screenshot(self, name: str, *, full_page: bool = True) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        target = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(target), full_page=full_page)
        return target

    def sign_in(self, username: str, password: str, *, path: str = "/accounts/login/") -> None:
        self.open(path)
        self.page.fill("input[name=username]", username)
        self.page.fill("input[name=password]", password)
        self.page.click("[type=submit]")
        self.page.wait_for_load_state()


@pytest.fixture
def new_page(browser, live_server) -> Iterator:
    contexts = []
    pages: list[Page] = []

    def make(viewport: dict | None = None) -> Page:
        context = browser.new_context(viewport=viewport or DESKTOP, base_url=live_server.url)
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = Page(context, live_server.url)
        pages.append(page)
        return page

    yield make
    for context in contexts:
        context.close()
    problems = [problem for page in pages for problem in page.problems]
    assert not problems, problems


@pytest.fixture
def page(new_page) -> Page:
    return new_page()
