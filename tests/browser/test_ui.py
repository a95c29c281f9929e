"""The pages in Chromium, as a person uses them: the form by keyboard, rows that change by
themselves, a progress bar that moves, a cancel, a download. Screenshots of every page at
desktop and phone size go to test-artifacts/."""

import re

import gmpy2
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PHONE

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Slow enough to watch (about 6 s alone on the development machine), with a tiny output.
LONG_N = 100_000_000
LONG_RESULT = "2038074743"  # p(10⁸), OEIS A006988
# Compute-bound until a cancel stops it (about 20 s alone).
CANCELLED_N = 300_000_000
CANCELLED_N_RESULT = "6461335109"  # p(3·10⁸)
SLOW_TIMEOUT_MS = 180_000


@pytest.fixture(autouse=True)
def signed_in(pages, django_user_model) -> None:
    """A signed-in user's pages: the long calculations here are above anonymous bounds."""
    pages.sign_in(django_user_model.objects.create_user("browser"))


def submit(page, equation: str, text: str) -> None:
    """Fill the form by keyboard, as someone without a mouse would, and send it."""
    page.locator("#id_equation").focus()
    page.locator("#id_equation").select_option(equation)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "id_n"
    page.keyboard.type(text)
    with page.expect_navigation():
        page.keyboard.press("Enter")


def newest_row(page):
    row_id = page.locator("#calculation-table tbody tr").first.get_attribute("id")
    # By id: htmx replaces the table's elements on every poll.
    return page.locator(f"#{row_id}")


def mark_page(page) -> None:
    page.evaluate("window.calcqueueNotReloaded = true")


def assert_not_reloaded(page) -> None:
    assert page.evaluate("window.calcqueueNotReloaded") is True


def assert_fits(page) -> None:
    """Nothing makes the page scroll sideways (a wide table scrolls inside its card)."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{page.url} is {width} px wide"


def test_submitted_rows_turn_to_success_by_themselves(pages, celery_worker):
    page = pages.open("/")
    submit(page, "fibonacci", "39, 4, 6, 32")
    mark_page(page)
    rows = page.locator("#calculation-table tbody tr")
    expect(rows).to_have_count(4)
    # The work takes about 10 ms and the page asks every 500 ms: a page that shows the
    # results later than this has stopped following them (the default wait is 5 s).
    for index, digits in enumerate(["2178309", "8", "3", "63245986"]):
        expect(rows.nth(index)).to_have_attribute("data-status", "SUCCESS", timeout=1_500)
        expect(rows.nth(index).locator(".output")).to_have_text(digits)
    expect(page.locator("#calculation-table")).to_have_attribute("data-live", "false")
    assert_not_reloaded(page)


def test_a_long_calculation_shows_a_moving_progress_bar_then_its_result(
    pages, celery_worker, screenshot
):
    page = pages.open("/")
    submit(page, "nth_prime", f"{LONG_N}")
    mark_page(page)
    row = newest_row(page)
    bar = row.locator("progress[value]")
    expect(bar).to_be_visible(timeout=60_000)
    expect(bar).to_have_attribute("aria-label", f"Progress of nth_prime({LONG_N})")
    first = float(bar.get_attribute("value"))
    page.wait_for_function(
        "([id, first]) => document.querySelector(`#${id} progress`)?.value > first",
        arg=[row.get_attribute("id"), first],
        timeout=60_000,
    )
    expect(row.locator(".progress-text")).to_have_text(re.compile(r"^\d+ %( · .+)?$"))
    screenshot(page, "list-running-desktop")

    detail = pages.open(newest_row(page).locator("a", has_text="Details").get_attribute("href"))
    expect(detail.locator("#calculation-detail progress[value]")).to_be_visible()
    screenshot(detail, "detail-running-desktop")
    phone = pages.open("/", viewport=PHONE)
    expect(phone.locator("progress[value]").first).to_be_visible()
    screenshot(phone, "list-running-phone")
    assert_fits(phone)
    phone.goto(detail.url)
    screenshot(phone, "detail-running-phone")
    assert_fits(phone)

    expect(row).to_have_attribute("data-status", "SUCCESS", timeout=SLOW_TIMEOUT_MS)
    expect(row.locator(".output")).to_have_text(LONG_RESULT)
    expect(row.locator("progress")).to_have_count(0)
    assert_not_reloaded(page)
    expect(detail.locator("#output")).to_have_text(LONG_RESULT, timeout=10_000)


def test_the_detail_page_downloads_the_exact_digits(pages, celery_worker, screenshot):
    n = 1_000_000
    page = pages.open("/")
    submit(page, "factorial", f"{n}")
    with page.expect_navigation():
        newest_row(page).get_by_role("link", name=f"Details of factorial({n})").click()
    expect(page.locator("#calculation-status")).to_have_attribute(
        "data-status", "SUCCESS", timeout=SLOW_TIMEOUT_MS
    )
    expect(page.locator(".digit-count").first).to_have_text("(5,565,709 digits)")
    screenshot(page, "detail-success-desktop")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download all digits (.txt)").click()
    assert download.value.suggested_filename == f"factorial-{n}.txt"
    downloaded = download.value.path().read_text()
    assert downloaded == gmpy2.fac(n).digits()

    phone = pages.open(page.url, viewport=PHONE)
    screenshot(phone, "detail-success-phone")
    assert_fits(phone)


def test_cancel_stops_a_running_calculation(pages, celery_worker):
    page = pages.open("/")
    submit(page, "nth_prime", f"{CANCELLED_N}")
    row = newest_row(page)
    expect(row.locator("progress[value]")).to_be_visible(timeout=60_000)
    with page.expect_navigation():
        row.get_by_role("button", name=f"Cancel nth_prime({CANCELLED_N})").click()
    expect(newest_row(page)).to_have_attribute("data-status", "CANCELLED", timeout=30_000)


def test_retry_of_a_cancelled_calculation_runs_to_success_by_itself(
    pages, celery_worker, screenshot
):
    page = pages.open("/")
    submit(page, "nth_prime", f"{CANCELLED_N}")
    row = newest_row(page)
    original_id = row.get_attribute("id").removeprefix("calculation-")
    expect(row.locator("progress[value]")).to_be_visible(timeout=60_000)
    with page.expect_navigation():
        row.get_by_role("button", name=f"Cancel nth_prime({CANCELLED_N})").click()
    cancelled = page.locator(f"#calculation-{original_id}")
    expect(cancelled).to_have_attribute("data-status", "CANCELLED", timeout=30_000)

    with page.expect_navigation():
        cancelled.get_by_role("button", name=f"Retry nth_prime({CANCELLED_N})").click()
    # The retry is a new calculation, linked to the cancelled one, on a page of its own.
    assert original_id not in page.url
    expect(page.locator(".messages")).to_have_text(
        f"Retrying nth_prime({CANCELLED_N}) as a new calculation."
    )
    expect(page.get_by_role("link", name=original_id)).to_have_attribute(
        "href", f"/calculations/{original_id}/"
    )
    mark_page(page)
    status = page.locator("#calculation-status")
    expect(page.locator("#calculation-detail progress[value]")).to_be_visible(timeout=60_000)
    expect(status).to_have_attribute("data-status", "RUNNING")
    expect(status).to_have_attribute("data-status", "SUCCESS", timeout=SLOW_TIMEOUT_MS)
    expect(page.locator("#output")).to_have_text(CANCELLED_N_RESULT)
    assert_not_reloaded(page)
    screenshot(page, "detail-retried-success-desktop")

    page.goto("/")
    rows = page.locator("#calculation-table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_have_attribute("data-status", "SUCCESS")
    expect(rows.nth(1)).to_have_attribute("id", f"calculation-{original_id}")
    expect(rows.nth(1)).to_have_attribute("data-status", "CANCELLED")
    screenshot(page, "list-retried-desktop")


def test_the_form_shows_bounds_and_inline_errors_on_a_phone(pages, screenshot):
    page = pages.open("/", viewport=PHONE)
    help_text = page.locator("#equation-help")
    expect(help_text).to_contain_text("n from 0 to 10,000,000")
    page.locator("#id_equation").select_option("nth_prime")
    expect(help_text).to_have_text(
        "The n-th prime number, counting p(1) = 2, p(2) = 3, p(3) = 5. n from 1 to 300,000,000."
    )
    # Invalid input is answered with 400 and the form, which Chromium logs as an error.
    pages.allow("the server responded with a status of 400 (Bad Request)")
    submit(page, "nth_prime", "0, 5")

    error = page.locator("#n-error")
    expect(error).to_have_text(
        "The n-th prime p(n) takes n from 1 to 300,000,000; out of range: 0."
    )
    expect(error).to_have_attribute("role", "alert")
    field = page.locator("#id_n")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_be_focused()
    expect(field).to_have_value("0, 5")
    expect(page.locator("#id_equation")).to_have_value("nth_prime")
    expect(page.locator("#calculation-table tbody tr")).to_have_count(0)
    screenshot(page, "form-error-phone")
    assert_fits(page)
    page.set_viewport_size({"width": 1280, "height": 900})
    screenshot(page, "form-error-desktop")
