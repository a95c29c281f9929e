"""The fault drills of the reliability guarantees: every accepted calculation ends final
(SUCCESS, ERROR with a reason, or CANCELLED), none is lost, every SUCCESS is exact, and no
result is stored twice — whatever is killed or stopped."""

import contextlib
import os
import signal
import threading
import time

import psutil
import pytest
from django.conf import settings

from calculations.models import Calculation
from config.celery_app import app
from tests.drills.conftest import DrillReport, settle_report, wait_all_final

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

LONG_N = 30_000_000  # About a second of GMP work here: long enough to be killed mid-way.


def wait_running(calculation_id, *, attempt: int, timeout: float = 60) -> int | None:
    """Wait until the calculation runs its `attempt`-th attempt; return the worker pid."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = Calculation.objects.get(pk=calculation_id)
        if row.status == Calculation.Status.RUNNING and row.attempts == attempt:
            return int(row.worker.rpartition(":")[2])
        if row.is_final:
            return None
        time.sleep(0.01)
    raise AssertionError(f"{calculation_id} never ran attempt {attempt}")


def pool_pids(worker) -> set[int]:
    """The process ids of a worker's live pool processes: its main process's children, but
    not a killed one that the pool has not reaped yet (a zombie, for up to its 5 s check)."""
    pids = set()
    for child in psutil.Process(worker.process.pid).children():
        with contextlib.suppress(psutil.NoSuchProcess):
            if child.status() != psutil.STATUS_ZOMBIE:
                pids.add(child.pid)
    return pids


def kill_every_first_attempt(calculations, *, after: float = 0.1, timeout: float = 90) -> int:
    """Kill the worker process of each calculation's first attempt once it has run `after`
    seconds; return the number of kills. Scans them all rather than one by one, so the order
    in which the broker redelivers killed messages does not matter."""
    first_seen: dict[str, float] = {}
    killed: set[str] = set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = list(calculations.values_list("pk", "status", "attempts", "worker"))
        if all(
            attempts > 1 or status in Calculation.FINAL_STATUSES for _, status, attempts, _ in rows
        ):
            return len(killed)
        now = time.monotonic()
        for pk, status, attempts, worker in rows:
            if pk in killed or status != Calculation.Status.RUNNING or attempts != 1:
                continue
            if now - first_seen.setdefault(pk, now) >= after:
                os.kill(int(worker.rpartition(":")[2]), signal.SIGKILL)
                killed.add(pk)
        time.sleep(0.01)
    raise AssertionError(f"first attempts still running after {timeout} s")


def test_drill_1_kill_a_worker_child_mid_calculation_twenty_times(drill_stack):
    report = DrillReport("1. kill -9 a worker child, 20+ times")
    drill_stack.start_worker(concurrency=2)
    started = time.monotonic()
    # The poison calculation kills its worker on every attempt: it must not loop forever.
    assert drill_stack.submit([LONG_N]).status_code == 302
    poison = Calculation.objects.get().pk
    kills = 0
    for attempt in (1, 2, 3):
        os.kill(wait_running(poison, attempt=attempt), signal.SIGKILL)
        kills += 1

    assert drill_stack.submit([LONG_N] * 20).status_code == 302
    kills += kill_every_first_attempt(Calculation.objects.exclude(pk=poison))
    report.seconds = time.monotonic() - started + wait_all_final(timeout=120)
    report.notes.append(f"{kills} processes killed; the poison calculation was killed 3 times")
    settle_report(report, drill_stack, accepted=21)

    assert kills >= 23
    assert report.lost == 0 and report.duplicates == 0
    assert report.succeeded == 20
    gave_up = Calculation.objects.get(pk=poison)
    assert gave_up.status == Calculation.Status.ERROR
    assert gave_up.error == "gave up after 3 attempts: worker lost"
    assert set(Calculation.objects.exclude(pk=poison).values_list("attempts", flat=True)) == {2}


def test_drill_2_kill_the_whole_worker_and_start_a_new_one(drill_stack):
    report = DrillReport("2. kill -9 the whole worker, start another")
    first = drill_stack.start_worker(concurrency=2)
    started = time.monotonic()
    numbers = [LONG_N, LONG_N, *range(1000, 1020)]
    assert drill_stack.submit(numbers).status_code == 302
    deadline = time.monotonic() + 30
    while Calculation.objects.filter(status=Calculation.Status.RUNNING).count() < 2:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    os.killpg(first.process.pid, signal.SIGKILL)
    first.process.wait()
    drill_stack.start_worker(concurrency=2)
    report.seconds = time.monotonic() - started + wait_all_final(timeout=90)
    settle_report(report, drill_stack, accepted=len(numbers))
    assert (report.succeeded, report.lost, report.duplicates) == (len(numbers), 0, 0)


def test_drill_3_a_thousand_pending_survive_the_broker_restarting_empty(drill_stack):
    report = DrillReport("3. 1,000 PENDING, broker restarted empty")
    for start in range(0, 1000, 100):
        assert drill_stack.submit(list(range(start, start + 100))).status_code == 302
    assert Calculation.objects.filter(status=Calculation.Status.PENDING).count() == 1000
    drill_stack.broker.restart_empty()
    started = time.monotonic()
    drill_stack.start_worker(concurrency=4)
    report.seconds = time.monotonic() - started + wait_all_final(timeout=60)
    report.notes.append(drill_stack.broker.how_emptied())
    settle_report(report, drill_stack, accepted=1000)
    assert (report.succeeded, report.lost) == (1000, 0)
    assert report.seconds < 60


def test_drill_4_the_broker_down_during_a_burst_of_submissions(drill_stack):
    report = DrillReport("4. broker down during a burst")
    # kombu's Redis transport can crash a worker that loses its connection while holding
    # unacknowledged messages (celery/kombu#582-style AttributeError on close); in production
    # the worker's supervisor restarts it, and so does this drill's.
    drill_stack.supervise_workers(concurrency=4)
    latencies: list[tuple[int, float]] = []

    def burst() -> None:
        for index in range(30):
            clock = time.monotonic()
            response = drill_stack.submit(list(range(index * 10, index * 10 + 10)))
            latencies.append((response.status_code, time.monotonic() - clock))
            time.sleep(0.1)

    started = time.monotonic()
    submitter = threading.Thread(target=burst)
    submitter.start()
    while len(latencies) < 8:
        time.sleep(0.01)
    drill_stack.broker.stop()
    time.sleep(3)
    drill_stack.broker.start()
    submitter.join()
    report.seconds = time.monotonic() - started + wait_all_final(timeout=60)
    slowest = max(seconds for _, seconds in latencies)
    report.notes.append(
        f"{drill_stack.broker.how_stopped()} for 3 s; slowest submission while it was "
        f"down: {slowest:.2f} s; worker restarts by its supervisor: {drill_stack.worker_restarts}"
    )
    settle_report(report, drill_stack, accepted=300)
    assert {status for status, _ in latencies} == {302}
    assert slowest < 4
    assert (report.succeeded, report.lost, report.duplicates) == (300, 0, 0)


def test_drill_5_the_same_message_delivered_twice_at_once(drill_stack):
    report = DrillReport("5. every message delivered twice at once")
    worker = drill_stack.start_worker(concurrency=4)
    singles = Calculation.objects.bulk_create(
        Calculation(equation="fibonacci", n=200_000 + index) for index in range(50)
    )
    # Short work travels in chunks: each chunk is sent twice, and overlaps the next one.
    chunked = [
        str(c.pk)
        for c in Calculation.objects.bulk_create(
            Calculation(equation="fibonacci", n=1_000 + index) for index in range(50)
        )
    ]
    chunks = [chunked[start : start + 10] for start in range(0, 50, 5)]
    from calculations.tasks import run_calculation, run_calculation_chunk

    started = time.monotonic()
    with app.connection_for_write(drill_stack.broker.url) as connection:
        for calculation in singles:
            for _ in range(2):
                run_calculation.apply_async(
                    (str(calculation.pk),), task_id=str(calculation.pk), connection=connection
                )
        for chunk in chunks:
            for _ in range(2):
                run_calculation_chunk.apply_async(
                    (chunk,), queue="calculations.short", connection=connection
                )
    report.seconds = time.monotonic() - started + wait_all_final(timeout=60)
    time.sleep(0.5)  # Let the second deliveries finish their (empty) work.
    settle_report(report, drill_stack, accepted=100)
    skipped = worker.log().count(" skipped: ")
    report.notes.append(
        f"{skipped} second deliveries of single calculations found nothing to run; "
        f"{len(chunks)} chunks of 10 sent twice, each overlapping the next by 5"
    )
    assert (report.succeeded, report.lost, report.duplicates) == (100, 0, 0)
    assert set(Calculation.objects.values_list("attempts", flat=True)) == {1}
    assert skipped >= 50


# Fibonacci has no soft limit (0), so only the hard limit can stop F(10^8): its pool process
# is killed and the row is settled by the claim rules (claims.Decision.TIME_OUT). A soft limit
# above the hard one would not do: Celery's prefork pool arms the hard timer only once the
# soft one has fired. A message's 0 falls back to the worker's default, hence both settings.
# Factorial keeps a soft limit, below its hard one, for the soft path beside it.
@pytest.mark.drill_env(
    {
        "CALCQUEUE_TASK_SOFT_TIME_LIMIT": "0",
        "CALCQUEUE_TIME_LIMITS": "fibonacci=0:1,factorial=1:30",
        "CALCQUEUE_ANON_MAX_N": "fibonacci=100000000,factorial=3000000",
    }
)
def test_drill_6_a_calculation_over_the_hard_time_limit_ends_error(drill_stack):
    report = DrillReport("6. hard and soft time limits exceeded")
    worker = drill_stack.start_worker(concurrency=2)
    pool_before = pool_pids(worker)
    started = time.monotonic()
    assert drill_stack.submit([100_000_000, 30]).status_code == 302
    assert drill_stack.submit([3_000_000], equation="factorial").status_code == 302
    report.seconds = time.monotonic() - started + wait_all_final(timeout=60)
    settle_report(report, drill_stack, accepted=3)
    over_hard, quick, over_soft = Calculation.objects.order_by("created_at")
    killed = int(over_hard.worker.rpartition(":")[2])
    deadline = time.monotonic() + 30
    while killed in (pool := pool_pids(worker)) or len(pool) < len(pool_before):
        assert time.monotonic() < deadline, f"pool process {killed} not replaced: {pool}"
        time.sleep(0.05)
    report.notes.append(f"F(10^8) ended {over_hard.status}: {over_hard.error}")
    report.notes.append(f"3,000,000! ended {over_soft.status}: {over_soft.error}")

    assert over_hard.status == Calculation.Status.ERROR
    assert (
        over_hard.error
        == "time limit exceeded after 1 s (hard limit: the worker process was killed)"
    )
    assert over_hard.attempts == 1
    log = worker.log()
    assert f"Hard time limit (1s) exceeded for calculations.run_calculation[{over_hard.pk}]" in log
    # Celery killed the pool process that ran it, reaped it and started another in its place.
    assert killed in pool_before and f" pid:{killed} exited with " in log
    assert killed not in pool and len(pool) == len(pool_before)
    assert over_soft.status == Calculation.Status.ERROR
    assert over_soft.error == "time limit exceeded after 1 s"
    assert quick.status == Calculation.Status.SUCCESS
    assert (report.lost, report.duplicates) == (0, 0)


def test_drill_7_cancel_while_pending_and_while_running(drill_stack):
    report = DrillReport("7. cancel while PENDING and RUNNING")
    drill_stack.start_worker(concurrency=1)
    started = time.monotonic()
    assert drill_stack.submit([100_000_000, 5, 6, 7]).status_code == 302
    running, pending, *rest = Calculation.objects.order_by("created_at")
    assert wait_running(running.pk, attempt=1) is not None

    assert drill_stack.cancel(pending.pk).status_code == 302
    pending.refresh_from_db()
    assert pending.status == Calculation.Status.CANCELLED

    clock = time.monotonic()
    assert drill_stack.cancel(running.pk).status_code == 302
    while Calculation.objects.get(pk=running.pk).status == Calculation.Status.RUNNING:
        assert time.monotonic() - clock < 10
        time.sleep(0.01)
    stop_seconds = time.monotonic() - clock
    report.seconds = time.monotonic() - started + wait_all_final(timeout=60)
    report.notes.append(f"a RUNNING calculation stopped {stop_seconds:.2f} s after cancel")
    settle_report(report, drill_stack, accepted=4)
    assert (report.lost, report.duplicates) == (0, 0)

    running.refresh_from_db()
    pending.refresh_from_db()
    assert running.status == Calculation.Status.CANCELLED
    assert pending.status == Calculation.Status.CANCELLED and pending.attempts == 0
    assert pending.started_at is None
    assert [r.status for r in Calculation.objects.filter(pk__in=[r.pk for r in rest])] == [
        "SUCCESS",
        "SUCCESS",
    ]
    assert stop_seconds < 3


# On SQLite, one calculation per message, as long work travels: each of the 10,000 is claimed
# and stored by its own write transaction, 12 processes at once (in chunks it would be 100 of
# each). PostgreSQL has no database-wide write lock to contend for; there the drill runs as
# configured and takes a minute less.
_ONE_A_MESSAGE_ON_SQLITE = (
    {"CALCQUEUE_CHUNK_SIZE": "1"}
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")
    else {}
)


@pytest.mark.drill_env(_ONE_A_MESSAGE_ON_SQLITE)
def test_drill_8_twelve_processes_finish_ten_thousand_without_database_locked(drill_stack):
    report = DrillReport("8. 12 processes, 10,000 calculations")
    drill_stack.start_worker(concurrency=12)
    started = time.monotonic()
    for start in range(0, 10_000, 100):
        assert drill_stack.submit([n % 2000 for n in range(start, start + 100)]).status_code == 302
    report.seconds = time.monotonic() - started + wait_all_final(timeout=240)
    settle_report(report, drill_stack, accepted=10_000)
    locked = drill_stack.worker_logs().count("database is locked")
    one_each = "one message, one claim, one result write each; " * bool(_ONE_A_MESSAGE_ON_SQLITE)
    report.notes.append(f'{one_each}"database is locked" in worker logs: {locked}')
    assert (report.succeeded, report.lost, report.duplicates, locked) == (10_000, 0, 0, 0)


def test_drill_9_sigterm_lets_running_work_finish_and_the_rest_waits(drill_stack):
    report = DrillReport("9. SIGTERM to the worker mid-calculation")
    first = drill_stack.start_worker(concurrency=1)
    started = time.monotonic()
    assert drill_stack.submit([LONG_N, 11, 12, 13]).status_code == 302
    long_calculation = Calculation.objects.order_by("created_at").first()
    assert wait_running(long_calculation.pk, attempt=1) is not None
    first.process.send_signal(signal.SIGTERM)
    first.process.wait(timeout=60)
    long_calculation.refresh_from_db()
    # Warm shutdown: the running calculation finished before the worker exited.
    assert long_calculation.status == Calculation.Status.SUCCESS
    assert Calculation.objects.filter(status=Calculation.Status.PENDING).count() == 3
    drill_stack.start_worker(concurrency=1)
    report.seconds = time.monotonic() - started + wait_all_final(timeout=60)
    settle_report(report, drill_stack, accepted=4)
    assert (report.succeeded, report.lost, report.duplicates) == (4, 0, 0)
