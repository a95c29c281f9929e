"""The dashboard's reads against rows whose counts and times are known."""

from datetime import timedelta

import pytest
from django.utils import timezone

from calculations.models import Calculation
from monitoring import selectors
from tests.calculations.factories import make_calculation, make_finished
from tests.conftest import clear_cache

pytestmark = pytest.mark.django_db
S = Calculation.Status


@pytest.fixture(autouse=True)
def empty_cache(broker_url):
    clear_cache()
    yield
    clear_cache()


def minute_ago(now, minutes: int, seconds: int = 30):
    """A moment in the minute that started `minutes` whole minutes before now's minute."""
    return now.replace(second=0, microsecond=0) - timedelta(minutes=minutes, seconds=-seconds)


def make_finished_at(status, moment, **fields) -> Calculation:
    """A finished row whose finished_at is exactly `moment`."""
    defaults = {
        "finished_at": moment,
        "started_at": moment - timedelta(seconds=1),
        "created_at": moment - timedelta(seconds=2),
    }
    return make_finished(status, **(defaults | fields))


def test_calculations_finished_per_minute_counts_each_outcome_in_its_minute():
    now = timezone.now()
    for _ in range(3):
        make_finished_at(S.SUCCESS, minute_ago(now, 5))
    make_finished_at(S.ERROR, minute_ago(now, 5))
    make_finished_at(S.CANCELLED, minute_ago(now, 10))
    make_finished_at(S.SUCCESS, minute_ago(now, 0, seconds=0))
    make_finished_at(S.SUCCESS, now - timedelta(minutes=61))  # before the window
    make_calculation()  # PENDING: not finished
    make_calculation(status=S.RUNNING, started_at=now)

    throughput = selectors.calculations_finished_per_minute(now=now)

    assert len(throughput.minutes) == 60
    assert throughput.minutes[-1].start == now.replace(second=0, microsecond=0)
    by_start = {m.start: m for m in throughput.minutes}
    five = by_start[now.replace(second=0, microsecond=0) - timedelta(minutes=5)]
    assert (five.success, five.error, five.cancelled) == (3, 1, 0)
    ten = by_start[now.replace(second=0, microsecond=0) - timedelta(minutes=10)]
    assert (ten.success, ten.error, ten.cancelled) == (0, 0, 1)
    assert throughput.minutes[-1].success == 1
    assert (throughput.success, throughput.error, throughput.cancelled) == (4, 1, 1)
    assert throughput.total == 6
    assert throughput.busiest == 4


def test_calculations_finished_per_minute_keeps_settled_minutes_and_recounts_recent_ones(
    django_assert_num_queries,
):
    now = timezone.now()
    make_finished_at(S.SUCCESS, minute_ago(now, 5))
    with django_assert_num_queries(60):
        selectors.calculations_finished_per_minute(now=now)
    # Rows that arrive later in a settled minute are not seen until it leaves the cache;
    # the minute now running and the one before it are counted at every call.
    make_finished_at(S.SUCCESS, minute_ago(now, 5))
    make_finished_at(S.SUCCESS, now)
    with django_assert_num_queries(2):
        throughput = selectors.calculations_finished_per_minute(now=now)
    assert throughput.success == 2


def test_calculation_durations_by_equation_gives_nearest_rank_percentiles_of_successes():
    now = timezone.now()
    for seconds in range(1, 21):  # 1 s .. 20 s
        finished = now - timedelta(minutes=1)
        make_finished_at(
            S.SUCCESS,
            finished,
            equation="factorial",
            started_at=finished - timedelta(seconds=seconds),
        )
    make_finished_at(S.SUCCESS, now, equation="fibonacci", started_at=now - timedelta(seconds=2))
    make_finished_at(S.ERROR, now, equation="fibonacci", started_at=now - timedelta(seconds=99))
    make_finished_at(
        S.SUCCESS,
        now - timedelta(minutes=90),
        equation="fibonacci",
        started_at=now - timedelta(minutes=95),
    )

    rows = {row.equation: row for row in selectors.calculation_durations_by_equation(now=now)}

    assert set(rows) == {"factorial", "fibonacci"}
    factorial = rows["factorial"]
    assert factorial.samples == 20
    # The database subtracts (SQLite: julianday(), exact to about 0.1 ms).
    assert factorial.p50 == pytest.approx(10, abs=1e-3)
    assert factorial.p95 == pytest.approx(19, abs=1e-3)
    assert factorial.longest == pytest.approx(20, abs=1e-3)
    assert (rows["fibonacci"].samples, rows["fibonacci"].p95) == (1, pytest.approx(2, abs=1e-3))


def test_calculation_durations_by_equation_reads_at_most_the_sample_size(monkeypatch):
    monkeypatch.setattr(selectors, "DURATION_SAMPLE_SIZE", 5)
    now = timezone.now()
    for back in range(8):
        finished = now - timedelta(seconds=back)
        make_finished_at(S.SUCCESS, finished, started_at=finished - timedelta(seconds=1))
    (row,) = selectors.calculation_durations_by_equation(now=now)
    assert row.samples == 5


def test_calculations_backlog_counts_waiting_and_running_and_finds_the_oldest_pending(monkeypatch):
    now = timezone.now()
    oldest = make_calculation(created_at=now - timedelta(seconds=40), n=7)
    make_calculation(created_at=now - timedelta(seconds=5))
    make_calculation(status=S.RUNNING, started_at=now)
    make_finished(S.SUCCESS, created_at=now - timedelta(hours=3))

    backlog = selectors.calculations_backlog()

    assert (backlog.pending, backlog.running) == (2, 1)
    assert backlog.oldest_pending.pk == oldest.pk
    assert backlog.oldest_pending_age(now).total_seconds() == pytest.approx(40, abs=1)
    assert not backlog.pending_capped

    monkeypatch.setattr(selectors, "PENDING_COUNT_CAP", 1)
    assert selectors.calculations_backlog().pending_capped


def test_calculations_backlog_of_an_idle_system_has_no_oldest_pending():
    backlog = selectors.calculations_backlog()
    assert (backlog.pending, backlog.running, backlog.oldest_pending) == (0, 0, None)
    assert backlog.oldest_pending_age(timezone.now()) is None


def test_calculations_running_lists_the_longest_running_first():
    now = timezone.now()
    late = make_calculation(status=S.RUNNING, started_at=now - timedelta(seconds=1))
    early = make_calculation(status=S.RUNNING, started_at=now - timedelta(seconds=9))
    make_calculation()
    assert [c.pk for c in selectors.calculations_running()] == [early.pk, late.pk]
    assert len(selectors.calculations_running(limit=1)) == 1


def test_calculation_claims_counts_rows_and_last_renewal_per_process(settings):
    settings.CALCQUEUE_LEASE_SECONDS = 30
    now = timezone.now()
    for lease in (10, 25):  # a chunk: one process, two rows
        make_calculation(
            status=S.RUNNING,
            worker="w@h:11",
            started_at=now,
            lease_expires_at=now + timedelta(seconds=lease),
        )
    make_calculation(status=S.RUNNING, worker="w@h:12", started_at=now)

    claims = selectors.calculation_claims()

    assert claims["w@h:11"].running == 2
    assert claims["w@h:11"].last_renewal == now - timedelta(seconds=5)
    assert claims["w@h:12"] == selectors.Claims(running=1, last_renewal=None)


def test_calculations_unfinished_by_equation_counts_only_pending_and_running():
    make_calculation(equation="fibonacci")
    make_calculation(equation="fibonacci")
    make_calculation(equation="factorial", status=S.RUNNING, started_at=timezone.now())
    make_finished(S.SUCCESS, equation="fibonacci")
    assert selectors.calculations_unfinished_by_equation() == {
        ("PENDING", "fibonacci"): 2,
        ("RUNNING", "factorial"): 1,
    }
