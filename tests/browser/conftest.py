"""The browser tier: Playwright driving Debian's Chromium against a live server and a real
worker. Without /usr/bin/chromium every test here is skipped, and the run says so loudly."""

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import BASE_DIR

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = BASE_DIR / "test-artifacts"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
MISSING = (
    f"BROWSER TESTS SKIPPED: {CHROMIUM} not found. Install it with "
    "`apt-get install chromium chromium-driver` (.ci/run does when it runs as root)."
)


def pytest_collection_modifyitems(config, items) -> None:
    if CHROMIUM.exists():
        return
    skip = pytest.mark.skip(reason=MISSING)
    browser_tests = [item for item in items if item.path.is_relative_to(Path(__file__).parent)]
    for item in browser_tests:
        item.add_marker(skip)
    if browser_tests:
        warnings.warn(MISSING, stacklevel=1)


def pytest_terminal_summary(terminalreporter) -> None:
    if not CHROMIUM.exists():
        terminalreporter.section("browser tests", sep="!", red=True, bold=True)
        terminalreporter.write_line(MISSING, red=True, bold=True)


@pytest.fixture(scope="module")
def browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an asyncio loop alive in this thread, which Django takes
    # for an async context; the ORM calls of these tests are all synchronous.
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Pages:
    """Opens pages at a size, and collects every console error and uncaught exception."""

    def __init__(self, browser, base_url: str) -> None:
        self.browser = browser
        self.base_url = base_url
        self.contexts = []
        self.errors: list[str] = []
        # (index of the first error it covers, text): see allow().
        self.allowed: list[tuple[int, str]] = []
        self.session_cookie: dict | None = None

    def sign_in(self, user) -> None:
        """Open the pages from now on as `user`, with a session made as login would."""
        from django.conf import settings
        from django.test import Client

        client = Client()
        client.force_login(user)
        self.session_cookie = {
            "name": settings.SESSION_COOKIE_NAME,
            "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
            "url": self.base_url,
        }

    def open(self, path: str = "/", *, viewport: dict = DESKTOP):
        context = self.browser.new_context(
            viewport=viewport, base_url=self.base_url, accept_downloads=True
        )
        if self.session_cookie:
            context.add_cookies([self.session_cookie])
        self.contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.on("console", lambda message: self._console(page, message))
        page.on("pageerror", lambda error: self.errors.append(f"{page.url}: {error}"))
        page.goto(path)
        return page

    def allow(self, console_error: str) -> None:
        """Expect console errors containing this text from now on (e.g. Chromium's log of a
        400): call it just before the action that logs them. Errors already logged, on this
        page or an earlier one, still fail the test. Playwright hands events over in the order
        the browser sent them, so every error logged before a finished call is already here."""
        self.allowed.append((len(self.errors), console_error))

    def unexpected_errors(self) -> list[str]:
        return [
            error
            for index, error in enumerate(self.errors)
            if not any(index >= since and text in error for since, text in self.allowed)
        ]

    def _console(self, page, message) -> None:
        if message.type == "error":
            self.errors.append(f"{page.url}: {message.text}")

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def pages(browser, live_server) -> Iterator[Pages]:
    opened = Pages(browser, live_server.url)
    yield opened
    opened.close()
    assert opened.unexpected_errors() == [], "console errors in the browser"


@pytest.fixture
def screenshot():
    ARTIFACTS.mkdir(exist_ok=True)

    def save(page, name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return save
