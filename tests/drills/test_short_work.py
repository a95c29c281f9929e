"""Short work has its own queue and worker processes: it never waits behind long work, even
when every long-work process is busy (on the drills' stack: real workers, Redis, database)."""

import time

import pytest

from calculations.models import Calculation
from tests.drills.conftest import wait_all_final

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

LONG_N = 30_000_000  # About a second each here.


def test_short_work_finishes_while_every_long_work_process_is_busy(drill_stack, settings):
    drill_stack.start_worker(concurrency=2, queues=[settings.CALCQUEUE_LONG_QUEUE])
    drill_stack.start_worker(concurrency=1, queues=[settings.CALCQUEUE_SHORT_QUEUE])
    assert drill_stack.submit([LONG_N] * 4).status_code == 302
    deadline = time.monotonic() + 30
    while Calculation.objects.filter(status=Calculation.Status.RUNNING).count() < 2:
        assert time.monotonic() < deadline, "the long calculations did not start"
        time.sleep(0.01)

    assert drill_stack.submit([30, 4, 6, 32, 39]).status_code == 302
    wait_all_final(timeout=60)
    long_work = Calculation.objects.filter(n=LONG_N)
    short_work = Calculation.objects.exclude(n=LONG_N)
    assert set(Calculation.objects.values_list("status", flat=True)) == {"SUCCESS"}
    first_long_finish = min(long_work.values_list("finished_at", flat=True))
    assert max(short_work.values_list("finished_at", flat=True)) < first_long_finish
    assert {c.worker.split("@")[0] for c in short_work} != {
        c.worker.split("@")[0] for c in long_work
    }
    assert dict(short_work.values_list("n", "output_head")) == {
        30: "832040",
        4: "3",
        6: "8",
        32: "2178309",
        39: "63245986",
    }
