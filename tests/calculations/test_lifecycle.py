"""Cancel, retry, release, leases and the sweeper, against the real database."""

import dataclasses
from datetime import timedelta

import pytest
from django.utils import timezone

from calculations import services
from calculations.claims import Claimant
from calculations.models import Calculation
from calculations.progress import ProgressRecorder
from equations.base import CalculationCancelled
from tests.calculations.factories import make_calculation, owner_caller

pytestmark = pytest.mark.django_db
S = Calculation.Status


@pytest.fixture
def enqueued(monkeypatch) -> list[str]:
    published: list[str] = []
    monkeypatch.setattr(
        services, "_enqueue", lambda calculations: published.extend(str(c.pk) for c in calculations)
    )
    return published


def make(**fields) -> Calculation:
    return make_calculation(**fields)


def make_running(**fields) -> Calculation:
    now = timezone.now()
    defaults = {
        "status": S.RUNNING,
        "attempts": 1,
        "started_at": now - timedelta(seconds=2),
        "lease_expires_at": now + timedelta(seconds=30),
        "worker": "node@host:123",
    }
    return make(**(defaults | fields))


def test_cancel_pending_is_immediate_and_the_calculation_never_runs(enqueued):
    calculation = make()
    assert (
        services.calculation_cancel(caller=owner_caller(), calculation_id=calculation.pk).status
        == S.CANCELLED
    )
    services.calculation_run(calculation_id=calculation.pk, claimant=Claimant("n@h", 1))
    calculation.refresh_from_db()
    assert (calculation.status, calculation.attempts, calculation.started_at) == (
        S.CANCELLED,
        0,
        None,
    )


def test_cancel_running_requests_a_stop_that_the_progress_check_honours():
    calculation = make_running()
    assert (
        services.calculation_cancel(caller=owner_caller(), calculation_id=calculation.pk).status
        == S.RUNNING
    )
    calculation.refresh_from_db()
    assert calculation.cancel_requested_at is not None
    recorder = ProgressRecorder(
        calculation_id=calculation.pk, started_at=calculation.started_at, interval=0
    )
    with pytest.raises(CalculationCancelled):
        recorder(0.5)


def test_cancel_of_a_finished_calculation_changes_nothing():
    calculation = make(status=S.SUCCESS)
    assert (
        services.calculation_cancel(caller=owner_caller(), calculation_id=calculation.pk).status
        == S.SUCCESS
    )


def test_cancel_of_an_unknown_id_raises_does_not_exist():
    with pytest.raises(Calculation.DoesNotExist):
        services.calculation_cancel(
            caller=owner_caller(), calculation_id="00000000-0000-0000-0000-000000000000"
        )


def test_progress_recorder_stores_the_fraction_and_throttles_writes():
    calculation = make_running()
    recorder = ProgressRecorder(
        calculation_id=calculation.pk, started_at=calculation.started_at, interval=3600
    )
    recorder._next_write = 0  # The first call writes; the next ones wait an hour.
    recorder(0.25)
    recorder(0.75)
    calculation.refresh_from_db()
    assert calculation.progress == 0.25


def test_overdue_cancels_are_settled_after_the_grace_period(settings):
    settings.CALCQUEUE_CANCEL_GRACE_SECONDS = 1
    late = make_running(cancel_requested_at=timezone.now() - timedelta(seconds=5))
    recent = make_running(cancel_requested_at=timezone.now())
    other_node = make_running(
        worker="else@host:9", cancel_requested_at=timezone.now() - timedelta(seconds=5)
    )
    ids = [str(c.pk) for c in (late, recent, other_node)]
    assert services.calculations_overdue_cancels(node="node@host", calculation_ids=ids) == [
        str(late.pk)
    ]
    late.refresh_from_db()
    recent.refresh_from_db()
    assert (late.status, recent.status) == (S.CANCELLED, S.RUNNING)


def test_retry_creates_a_linked_new_calculation_and_enqueues_it(enqueued):
    failed = make(status=S.ERROR, error="boom", n=12)
    retry = services.calculation_retry(caller=owner_caller(), calculation_id=failed.pk)
    assert (retry.status, retry.n, retry.retry_of_id) == (S.PENDING, 12, failed.pk)
    assert enqueued == []  # Only after commit.


def test_retry_refuses_pending_running_and_successful_calculations():
    for status in (S.PENDING, S.RUNNING, S.SUCCESS):
        with pytest.raises(services.CalculationStateError):
            services.calculation_retry(caller=owner_caller(), calculation_id=make(status=status).pk)


def test_release_gives_the_claim_back_without_counting_the_attempt():
    calculation = make_running(attempts=2)
    services.calculations_release(
        calculation_ids=[calculation.pk], claimant=Claimant("node@host", 123)
    )
    calculation.refresh_from_db()
    assert (calculation.status, calculation.attempts, calculation.worker) == (S.PENDING, 1, "")


def test_renew_leases_extends_only_this_nodes_running_calculations(settings):
    settings.CALCQUEUE_LEASE_SECONDS = 100
    soon = timezone.now() + timedelta(seconds=1)
    mine = make_running(lease_expires_at=soon)
    theirs = make_running(lease_expires_at=soon, worker="else@host:1")
    renewed = services.calculations_renew_leases(
        node="node@host", calculation_ids=[str(mine.pk), str(theirs.pk)]
    )
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert renewed == 1
    assert mine.lease_expires_at > timezone.now() + timedelta(seconds=90)
    assert theirs.lease_expires_at == soon


def test_sweep_requeues_lost_work_and_settles_what_must_not_run_again(enqueued, settings):
    settings.CALCQUEUE_MAX_ATTEMPTS = 3
    lapsed = timezone.now() - timedelta(seconds=1)
    lost = make_running(lease_expires_at=lapsed)
    exhausted = make_running(lease_expires_at=lapsed, attempts=3)
    cancelled = make_running(lease_expires_at=lapsed, cancel_requested_at=lapsed)
    healthy = make_running()

    report = services.calculations_sweep()

    for calculation in (lost, exhausted, cancelled, healthy):
        calculation.refresh_from_db()
    assert (report.requeued_running, report.settled) == (1, 2)
    assert lost.status == S.PENDING and str(lost.pk) in enqueued
    assert exhausted.status == S.ERROR
    assert exhausted.error == "gave up after 3 attempts: worker lost"
    assert cancelled.status == S.CANCELLED
    assert healthy.status == S.RUNNING


def test_sweep_requeues_stale_pending_only_when_the_queue_cannot_hold_them(
    enqueued, monkeypatch, settings
):
    settings.CALCQUEUE_REQUEUE_AFTER_SECONDS = 10
    old = timezone.now() - timedelta(seconds=60)
    stale = [make(enqueued_at=old) for _ in range(3)]
    fresh = make()

    monkeypatch.setattr(services, "queue_depth", lambda: 3)
    assert services.calculations_sweep().requeued_pending == 0

    monkeypatch.setattr(services, "queue_depth", lambda: 1)
    assert services.calculations_sweep().requeued_pending == 3
    assert sorted(enqueued) == sorted(str(c.pk) for c in stale)
    assert str(fresh.pk) not in enqueued
    # Just enqueued again: not stale any more.
    assert services.calculations_sweep().requeued_pending == 0


def test_sweep_times_out_a_running_calculation_past_its_hard_limit(settings):
    settings.CALCQUEUE_TIME_LIMITS = {"fibonacci": (1, 2)}
    past = make_running(
        started_at=timezone.now() - timedelta(seconds=10),
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )
    services.calculations_sweep()
    past.refresh_from_db()
    assert past.status == S.ERROR
    assert past.error == "time limit exceeded after 2 s (hard limit: the worker process was killed)"


@pytest.fixture
def slow_equation(settings):
    """An equation that reports progress twice and then fails as its test asks."""
    from celery.exceptions import SoftTimeLimitExceeded

    from equations import registry
    from equations.base import Equation

    behaviour = {"raise": None}

    def compute(n, progress):
        progress(0.1)
        if behaviour["raise"] is not None:
            raise behaviour["raise"]
        progress(0.9)
        return registry.get("fibonacci").compute(n, progress)

    settings.CALCQUEUE_PROGRESS_INTERVAL_SECONDS = 0
    settings.CALCQUEUE_TIME_LIMITS = {"test-slow": (7, 9)}
    equation = registry.register(
        Equation(
            key="test-slow",
            label="Slow",
            description="",
            compute=compute,
            default_max_n=99,
            estimate_seconds=lambda n: 1.0,
            estimate_digits=lambda n: 1,
        )
    )
    behaviour["soft"] = SoftTimeLimitExceeded
    yield behaviour
    registry._equations.pop(equation.key)


def test_run_stores_a_soft_time_limit_as_an_error(slow_equation):
    slow_equation["raise"] = slow_equation["soft"]()
    calculation = make(equation="test-slow")
    services.calculation_run(calculation_id=calculation.pk, claimant=Claimant("n@h", 1))
    calculation.refresh_from_db()
    assert (calculation.status, calculation.error) == (S.ERROR, "time limit exceeded after 7 s")


def test_run_stops_with_cancelled_when_a_cancel_arrives_mid_computation(slow_equation):
    calculation = make(equation="test-slow")

    def cancel_then_continue(n, progress):
        services.calculation_cancel(caller=owner_caller(), calculation_id=calculation.pk)
        progress(0.5)
        raise AssertionError("the progress check should have stopped the computation")

    from equations import registry

    original = registry._equations["test-slow"]
    registry._equations["test-slow"] = dataclasses.replace(original, compute=cancel_then_continue)
    services.calculation_run(calculation_id=calculation.pk, claimant=Claimant("n@h", 1))
    calculation.refresh_from_db()
    assert calculation.status == S.CANCELLED
    assert calculation.finished_at is not None


def test_run_records_progress_and_success(slow_equation):
    calculation = make(equation="test-slow", n=50)
    services.calculation_run(calculation_id=calculation.pk, claimant=Claimant("n@h", 1))
    calculation.refresh_from_db()
    assert (calculation.status, calculation.progress) == (S.SUCCESS, 1.0)
    assert calculation.output.digits == "12586269025"
