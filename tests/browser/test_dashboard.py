"""The dashboard in Chromium: it updates itself while a calculation runs and finishes."""

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from calculations import services
from tests.browser.conftest import PHONE
from tests.browser.test_ui import (
    LONG_N,
    SLOW_TIMEOUT_MS,
    assert_fits,
    assert_not_reloaded,
    mark_page,
)
from tests.calculations.factories import owner_caller
from tests.conftest import clear_cache

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_dashboard_follows_a_calculation_from_running_to_finished_by_itself(
    pages, celery_worker, screenshot, settings
):
    clear_cache()
    settings.CALCQUEUE_MAX_N = {"nth_prime": LONG_N}
    pages.sign_in(get_user_model().objects.create_user("operator", is_staff=True))
    page = pages.open("/dashboard/")
    mark_page(page)
    expect(page.locator(f'[data-worker="{celery_worker.hostname}"]')).to_be_visible()
    expect(page.locator("#finished-success")).to_have_text("0")

    (calculation,) = services.calculations_submit(
        caller=owner_caller(), equation="nth_prime", inputs=[LONG_N]
    )
    running = page.locator(f"#running-{calculation.pk}")
    expect(running).to_be_visible(timeout=SLOW_TIMEOUT_MS)
    expect(running.locator("progress")).to_have_attribute(
        "value", re.compile(r"0\.\d+"), timeout=SLOW_TIMEOUT_MS
    )
    expect(page.locator("#running-count")).to_have_text("1")
    screenshot(page, "dashboard-running-desktop")
    phone = pages.open("/dashboard/", viewport=PHONE)
    expect(phone.locator(f"#running-{calculation.pk}")).to_be_visible()
    assert_fits(phone)
    screenshot(phone, "dashboard-running-phone")

    expect(page.locator("#finished-success")).to_have_text("1", timeout=SLOW_TIMEOUT_MS)
    expect(running).to_have_count(0)
    expect(page.locator('[data-equation="nth_prime"]')).to_be_visible()
    expect(page.locator('.bar[data-total="1"]')).to_have_count(1)
    assert_not_reloaded(page)
    screenshot(page, "dashboard-finished-desktop")
