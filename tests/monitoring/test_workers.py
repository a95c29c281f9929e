"""What the dashboard learns about a real worker: from its remote control and from the
rows its processes claim."""

import pytest
from django.utils import timezone

from calculations import services
from calculations.models import Calculation
from monitoring.workers import workers_snapshot
from tests.calculations.factories import owner_caller
from tests.conftest import clear_cache

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_workers_snapshot_shows_a_busy_worker_with_its_running_calculation(
    celery_worker, wait_until, settings
):
    settings.CALCQUEUE_MAX_N = {"nth_prime": 300_000_000}
    (calculation,) = services.calculations_submit(
        caller=owner_caller(), equation="nth_prime", inputs=[300_000_000]
    )
    try:
        wait_until(
            lambda: Calculation.objects.get(pk=calculation.pk).lease_expires_at is not None,
            what="the calculation to be claimed",
        )
        clear_cache()
        snapshot = workers_snapshot()
        (worker,) = [w for w in snapshot.workers if w.hostname == celery_worker.hostname]
        assert worker.pool_size == 12
        assert worker.busy >= 1
        assert worker.calculations >= 1
        assert sorted(worker.queues) == ["calculations", "calculations.short", "notifications"]
        age = (timezone.now() - worker.last_renewal).total_seconds()
        assert 0 <= age < settings.CALCQUEUE_HEARTBEAT_SECONDS + 5
        assert snapshot.error == ""
        print(f"\n{worker}")
    finally:
        services.calculation_cancel(caller=owner_caller(), calculation_id=calculation.pk)
        wait_until(
            lambda: Calculation.objects.get(pk=calculation.pk).is_final,
            what="the cancel",
        )


def test_workers_snapshot_reports_claims_of_a_silent_node(broker_url, settings):
    now = timezone.now()
    Calculation.objects.create(
        equation="fibonacci",
        n=10,
        status=Calculation.Status.RUNNING,
        started_at=now,
        worker="gone@nowhere:4242",
        lease_expires_at=now,
    )
    settings.CALCQUEUE_INSPECT_TIMEOUT_SECONDS = 0.2
    clear_cache()
    snapshot = workers_snapshot()
    assert "gone@nowhere" not in {w.hostname for w in snapshot.workers}
    assert snapshot.silent["gone@nowhere"].running == 1
