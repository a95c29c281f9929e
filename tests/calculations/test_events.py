"""calculations.events: final statuses announced over a real Redis, and the long poll that
listens for them (and falls back to re-reading the row without Redis)."""

import threading
import time
import uuid

import pytest
from django.db import connection

from calculations import events, selectors, services
from calculations.models import Calculation
from tests.calculations.factories import make_calculation, owner_caller

S = Calculation.Status
NOBODY_LISTENS = "redis://127.0.0.1:9/0"  # the discard port


@pytest.fixture(autouse=True)
def redis_server(broker_url):
    """The session's Redis (embedded unless REDIS_URL names one), with a fresh client."""
    events._redis.cache_clear()
    yield
    events._redis.cache_clear()


def test_final_announcement_wait_returns_true_once_announced():
    calculation_id = uuid.uuid4()
    with events.final_announcement(calculation_id) as announced:
        events._publish([calculation_id])
        assert announced(10) is True


def test_final_announcement_ignores_other_calculations_and_times_out():
    with events.final_announcement(uuid.uuid4()) as announced:
        events._publish([uuid.uuid4()])
        assert announced(0.2) is False


@pytest.mark.django_db
def test_announce_final_publishes_only_once_the_transaction_commits(
    django_capture_on_commit_callbacks,
):
    calculation_id = uuid.uuid4()
    with events.final_announcement(calculation_id) as announced:
        with django_capture_on_commit_callbacks() as callbacks:
            events.calculations_announce_final(calculation_ids=[calculation_id])
        assert announced(0.2) is False
        for callback in callbacks:
            callback()
        assert announced(10) is True


@pytest.mark.django_db
def test_cancel_of_a_pending_calculation_is_announced(django_capture_on_commit_callbacks):
    calculation = make_calculation()
    with events.final_announcement(calculation.pk) as announced:
        with django_capture_on_commit_callbacks(execute=True):
            services.calculation_cancel(caller=owner_caller(), calculation_id=calculation.pk)
        assert announced(10) is True


def _finish_from_another_connection(calculation_id, *, after: float, announce: bool) -> None:
    def finish() -> None:
        time.sleep(after)
        try:
            Calculation.objects.filter(pk=calculation_id).update(status=S.SUCCESS)
            if announce:
                events.calculations_announce_final(calculation_ids=[calculation_id])
        finally:
            connection.close()

    threading.Thread(target=finish).start()


@pytest.mark.django_db(transaction=True)
def test_calculation_wait_answers_on_the_announcement_not_on_a_re_read(monkeypatch):
    # Re-reads 60 s apart: only the announcement can end this wait within the test's bound.
    monkeypatch.setattr(events, "RECHECK_SECONDS", 60.0)
    calculation = make_calculation()
    _finish_from_another_connection(calculation.pk, after=0.3, announce=True)
    started = time.monotonic()
    waited = selectors.calculation_wait(
        caller=owner_caller(), calculation_id=calculation.pk, timeout=30
    )
    assert waited.status == S.SUCCESS
    assert time.monotonic() - started < 20


@pytest.mark.django_db(transaction=True)
def test_calculation_wait_re_reads_the_row_when_no_announcement_comes(monkeypatch):
    monkeypatch.setattr(events, "RECHECK_SECONDS", 0.2)
    calculation = make_calculation()
    _finish_from_another_connection(calculation.pk, after=0.3, announce=False)
    waited = selectors.calculation_wait(
        caller=owner_caller(), calculation_id=calculation.pk, timeout=30
    )
    assert waited.status == S.SUCCESS


@pytest.mark.django_db(transaction=True)
def test_calculation_wait_without_redis_polls_the_row(settings, caplog):
    settings.CACHES = {"default": settings.CACHES["default"] | {"LOCATION": NOBODY_LISTENS}}
    events._redis.cache_clear()
    calculation = make_calculation()
    _finish_from_another_connection(calculation.pk, after=0.3, announce=True)
    waited = selectors.calculation_wait(
        caller=owner_caller(), calculation_id=calculation.pk, timeout=30
    )
    assert waited.status == S.SUCCESS
    assert "long poll without announcements" in caplog.text


@pytest.mark.django_db
def test_calculation_wait_of_zero_reads_once_without_subscribing(settings, caplog):
    settings.CACHES = {"default": settings.CACHES["default"] | {"LOCATION": NOBODY_LISTENS}}
    events._redis.cache_clear()
    calculation = make_calculation()
    waited = selectors.calculation_wait(
        caller=owner_caller(), calculation_id=calculation.pk, timeout=0
    )
    assert waited.status == S.PENDING
    assert "long poll" not in caplog.text
