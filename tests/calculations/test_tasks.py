"""calculations.tasks: a transient failure (the database refusing a write) is retried with the
claim given back; a maths error is the calculation's result and is never retried.

The tasks run eagerly (task.apply()) in this process against the test database. The transient
failure is a real one: another connection holds the write lock (SQLite) or the row's lock
(PostgreSQL) when the task writes, and this connection does not wait for it.
"""

import contextlib
from collections.abc import Iterator

import gmpy2
import pytest
from celery.signals import task_retry
from django.db import OperationalError, connection, connections

from calculations import tasks
from calculations.models import Calculation
from tests.calculations.factories import make_calculation

# The other connection must see committed rows, and the task's writes must be its own
# transactions, as in a worker.
pytestmark = pytest.mark.django_db(transaction=True)
S = Calculation.Status
MAX_RETRIES = 8


class OtherWriter:
    """A second database connection that holds the lock a write of `calculation_id` needs."""

    def __init__(self, calculation_id) -> None:
        self.calculation_id = calculation_id
        self.connection = connections.create_connection("default")
        self.holding = False

    def lock(self) -> None:
        with self.connection.cursor() as cursor:
            if self.connection.vendor == "sqlite":
                cursor.execute("BEGIN IMMEDIATE")
            else:
                cursor.execute("BEGIN")
                cursor.execute(
                    "SELECT id FROM calculations_calculation WHERE id = %s FOR UPDATE",
                    [self.calculation_id.hex],
                )
        self.holding = True

    def unlock(self) -> None:
        if self.holding:
            with self.connection.cursor() as cursor:
                cursor.execute("ROLLBACK")
            self.holding = False

    def close(self) -> None:
        self.unlock()
        self.connection.close()


@contextlib.contextmanager
def no_waiting_for_locks() -> Iterator[None]:
    """This connection fails at once on a lock held elsewhere ("database is locked", or
    PostgreSQL's lock_timeout) instead of waiting out its 30 s busy timeout."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA busy_timeout")
            (busy_timeout,) = cursor.fetchone()
            cursor.execute("PRAGMA busy_timeout = 0")
        else:
            cursor.execute("SET lock_timeout = '100ms'")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            if connection.vendor == "sqlite":
                cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout)}")
            else:
                cursor.execute("RESET lock_timeout")


@pytest.fixture
def retries() -> Iterator[list[dict]]:
    """What Celery's task_retry signal reported, with the row as it was at that moment."""
    seen: list[dict] = []

    def record(sender, request, reason, **kwargs) -> None:
        (calculation_ids,) = request.args
        ids = calculation_ids if isinstance(calculation_ids, list) else [calculation_ids]
        rows = Calculation.objects.filter(pk__in=ids)
        seen.append(
            {
                "exception": reason.exc,
                "countdown": reason.when,
                "rows": list(rows.values("status", "attempts", "worker", "started_at")),
            }
        )

    task_retry.connect(record, weak=False)
    yield seen
    task_retry.disconnect(record)


@pytest.fixture(autouse=True)
def no_progress_writes(settings) -> None:
    # A progress write between the lock and the result would meet the lock first.
    settings.CALCQUEUE_PROGRESS_INTERVAL_SECONDS = 3600


@pytest.fixture
def locked_once(register_equation) -> Iterator:
    """An equation that computes F(n) while, the first time, another connection takes the
    lock its result's write needs; the lock is let go as soon as a write of this connection
    fails on it, so that the task can give its claim back."""
    state: dict = {"writer": None, "calls": 0}

    def compute(n, progress):
        state["calls"] += 1
        if state["calls"] == 1:
            state["writer"].lock()
        return gmpy2.fib(n)

    def let_go_on_failure(execute, sql, params, many, context):
        try:
            return execute(sql, params, many, context)
        except OperationalError:
            state["writer"].unlock()
            raise

    register_equation("test_locked_once", compute)
    with no_waiting_for_locks(), connection.execute_wrapper(let_go_on_failure):
        yield state
    if state["writer"]:
        state["writer"].close()


def test_run_calculation_retries_a_database_error_and_gives_the_claim_back(locked_once, retries):
    calculation = make_calculation(equation="test_locked_once", n=90)
    locked_once["writer"] = OtherWriter(calculation.pk)

    result = tasks.run_calculation.apply(args=(str(calculation.pk),))

    (retry,) = retries
    assert isinstance(retry["exception"], OperationalError)
    assert 0 <= retry["countdown"] <= 1  # retry_backoff=1 s, with jitter
    # At the retry the claim was given back: PENDING, not counted as an attempt.
    assert retry["rows"] == [{"status": S.PENDING, "attempts": 0, "worker": "", "started_at": None}]
    # The retried delivery claimed it again and stored the one result.
    assert result.successful() and locked_once["calls"] == 2
    calculation.refresh_from_db()
    assert (calculation.status, calculation.attempts) == (S.SUCCESS, 1)
    assert calculation.output.digits == gmpy2.fib(90).digits()


def test_run_calculation_chunk_retries_a_database_error_and_gives_every_claim_back(
    locked_once, retries
):
    chunk = [make_calculation(equation="test_locked_once", n=n) for n in (10, 20, 30)]
    locked_once["writer"] = OtherWriter(chunk[0].pk)

    result = tasks.run_calculation_chunk.apply(args=([str(c.pk) for c in chunk],))

    (retry,) = retries
    assert isinstance(retry["exception"], OperationalError)
    assert {(row["status"], row["attempts"], row["worker"]) for row in retry["rows"]} == {
        (S.PENDING, 0, "")
    }
    assert result.successful()
    for calculation in chunk:
        calculation.refresh_from_db()
        assert (calculation.status, calculation.attempts) == (S.SUCCESS, 1)
        assert calculation.output.digits == gmpy2.fib(calculation.n).digits()


def test_run_calculation_gives_up_after_eight_retries_and_leaves_the_row_pending(
    register_equation, retries
):
    register_equation("test_plain", lambda n, progress: gmpy2.fib(n))
    calculation = make_calculation(equation="test_plain", n=90)
    writer = OtherWriter(calculation.pk)
    writer.lock()  # for good: even the claim cannot be written
    try:
        with no_waiting_for_locks():
            result = tasks.run_calculation.apply(args=(str(calculation.pk),))
    finally:
        writer.close()

    assert len(retries) == MAX_RETRIES
    assert result.failed() and isinstance(result.result, OperationalError)
    # Never claimed: the sweeper enqueues it again once it is stale (README, "Guarantees").
    calculation.refresh_from_db()
    assert (calculation.status, calculation.attempts) == (S.PENDING, 0)


def test_run_calculation_stores_a_maths_error_whole_and_does_not_retry(register_equation, retries):
    # Long, on several lines, with the kind of characters a cut or an escape would change.
    message = "n must be even — got 7\n" + "; ".join(f"step {i} ≠ {i + 1}" for i in range(300))
    calls = []

    def compute(n, progress):
        calls.append(n)
        raise ValueError(message)

    register_equation("test_maths_error", compute)
    calculation = make_calculation(equation="test_maths_error", n=7)

    result = tasks.run_calculation.apply(args=(str(calculation.pk),))

    assert retries == [] and calls == [7]
    assert result.successful()  # the error is the calculation's result, not the task's
    calculation.refresh_from_db()
    assert calculation.status == S.ERROR
    assert calculation.error == f"ValueError: {message}"
    assert calculation.attempts == 1 and calculation.finished_at is not None
