"""What the dashboard and /metrics read from the database: every query is bounded by an index
range or a LIMIT, so that none of them grows with the size of the table.

Finished calculations are counted per minute over the index on `finished_at` (one small range
count a minute); a minute that can no longer change is kept in the cache for the hour it stays
on the chart, so a dashboard refresh counts only the last two minutes again.
"""

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, FloatField, Func, Max
from django.utils import timezone

from calculations.models import Calculation

S = Calculation.Status
WINDOW_MINUTES = 60
# finished_at is stamped before the row is committed (a chunk of short work stores all its
# rows at the end); a minute that ended this long ago has every row it will ever have.
MINUTE_SETTLED_SECONDS = 60
# The newest finished calculations of the last hour whose durations make the percentiles.
DURATION_SAMPLE_SIZE = 2000
RUNNING_SHOWN = 50
# Above this, the dashboard says "more than" instead of counting every waiting row.
PENDING_COUNT_CAP = 10_000
_CACHE_PREFIX = "monitoring:finished-minute:"


@dataclass(frozen=True)
class MinuteCount:
    start: datetime
    success: int = 0
    error: int = 0
    cancelled: int = 0

    @property
    def total(self) -> int:
        return self.success + self.error + self.cancelled


@dataclass(frozen=True)
class Throughput:
    minutes: list[MinuteCount]  # oldest first, the last one is the minute now running

    @property
    def success(self) -> int:
        return sum(minute.success for minute in self.minutes)

    @property
    def error(self) -> int:
        return sum(minute.error for minute in self.minutes)

    @property
    def cancelled(self) -> int:
        return sum(minute.cancelled for minute in self.minutes)

    @property
    def total(self) -> int:
        return sum(minute.total for minute in self.minutes)

    @property
    def busiest(self) -> int:
        return max((minute.total for minute in self.minutes), default=0)


@dataclass(frozen=True)
class Durations:
    equation: str
    samples: int
    p50: float
    p95: float
    longest: float


@dataclass(frozen=True)
class Backlog:
    pending: int  # capped at PENDING_COUNT_CAP + 1
    running: int
    oldest_pending: Calculation | None

    @property
    def pending_capped(self) -> bool:
        return self.pending > PENDING_COUNT_CAP

    def oldest_pending_age(self, now: datetime) -> timedelta | None:
        return now - self.oldest_pending.created_at if self.oldest_pending else None


class SecondsBetween(Func):
    """Seconds from one datetime column to another, computed by the database: converting two
    datetimes a row in Python (Django's SQLite datetime difference does) costs more than the
    rest of the dashboard. julianday() is exact to about 0.1 ms, plenty for these figures."""

    arity = 2
    output_field = FloatField()

    def _operands(self, compiler) -> tuple[str, str, list]:
        (start, start_params), (end, end_params) = (
            compiler.compile(expression) for expression in self.get_source_expressions()
        )
        return start, end, [*end_params, *start_params]

    def as_sqlite(self, compiler, connection, **extra):
        start, end, params = self._operands(compiler)
        return f"((julianday({end}) - julianday({start})) * 86400.0)", params

    def as_postgresql(self, compiler, connection, **extra):
        start, end, params = self._operands(compiler)
        return f"EXTRACT(EPOCH FROM ({end} - {start}))::double precision", params


def _count_minute(start: datetime) -> MinuteCount:
    counts = dict(
        Calculation.objects.filter(
            finished_at__gte=start, finished_at__lt=start + timedelta(minutes=1)
        )
        .order_by()
        .values_list("status")
        .annotate(count=Count("*"))
    )
    return MinuteCount(
        start=start,
        success=counts.get(S.SUCCESS, 0),
        error=counts.get(S.ERROR, 0),
        cancelled=counts.get(S.CANCELLED, 0),
    )


def calculations_finished_per_minute(*, now: datetime | None = None) -> Throughput:
    """Calculations finished in each of the last 60 minutes (the current one included), by
    outcome. The filter is on finished_at alone, so every database serves it from the
    (finished_at, status) index without reading a row."""
    now = now or timezone.now()
    current = now.replace(second=0, microsecond=0)
    starts = [current - timedelta(minutes=back) for back in range(WINDOW_MINUTES - 1, -1, -1)]
    keys = {start: f"{_CACHE_PREFIX}{start.isoformat()}" for start in starts}
    cached = cache.get_many(keys.values())
    minutes, settled = [], {}
    for start in starts:
        minute = cached.get(keys[start])
        if minute is None:
            minute = _count_minute(start)
            if start + timedelta(minutes=1, seconds=MINUTE_SETTLED_SECONDS) <= now:
                settled[keys[start]] = minute
        minutes.append(minute)
    if settled:
        cache.set_many(settled, timeout=(WINDOW_MINUTES + 2) * 60)
    return Throughput(minutes=minutes)


def _percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of a sorted, non-empty list."""
    return ordered[max(math.ceil(fraction * len(ordered)) - 1, 0)]


def calculation_durations_by_equation(*, now: datetime | None = None) -> list[Durations]:
    """p50 and p95 of the running time (claim to finish) of the successful calculations among
    the newest DURATION_SAMPLE_SIZE finished in the last hour, per equation."""
    now = now or timezone.now()
    # Only finished_at in the filter (the status is checked here), so that the newest rows come
    # from the finished_at index whatever a database's planner thinks of the status index.
    rows = (
        Calculation.objects.filter(finished_at__gte=now - timedelta(minutes=WINDOW_MINUTES))
        .order_by("-finished_at")
        .annotate(ran=SecondsBetween("started_at", "finished_at"))
        .values_list("equation", "status", "ran")[:DURATION_SAMPLE_SIZE]
    )
    seconds: dict[str, list[float]] = defaultdict(list)
    for equation, status, ran in rows:
        if status == S.SUCCESS and ran is not None:
            seconds[equation].append(ran)
    result = []
    for equation in sorted(seconds):
        ordered = sorted(seconds[equation])
        result.append(
            Durations(
                equation=equation,
                samples=len(ordered),
                p50=_percentile(ordered, 0.5),
                p95=_percentile(ordered, 0.95),
                longest=ordered[-1],
            )
        )
    return result


def calculations_backlog() -> Backlog:
    """Waiting and running calculations, and the oldest waiting one."""
    pending = Calculation.objects.filter(status=S.PENDING)
    return Backlog(
        pending=pending.order_by()[: PENDING_COUNT_CAP + 1].count(),
        running=Calculation.objects.filter(status=S.RUNNING).count(),
        oldest_pending=pending.order_by("created_at")
        .only("id", "equation", "n", "created_at")
        .first(),
    )


def calculations_running(*, limit: int = RUNNING_SHOWN) -> list[Calculation]:
    """The calculations running now, longest-running first."""
    return list(Calculation.objects.filter(status=S.RUNNING).order_by("started_at", "id")[:limit])


@dataclass(frozen=True)
class Claims:
    """What one claimant ("<node>:<pid>") holds: RUNNING rows (a chunk of short work is one
    process) and when it last renewed their leases (the heartbeat the rows carry)."""

    running: int
    last_renewal: datetime | None


def calculation_claims() -> dict[str, Claims]:
    lease = timedelta(seconds=settings.CALCQUEUE_LEASE_SECONDS)
    return {
        worker: Claims(running=count, last_renewal=expires - lease if expires else None)
        for worker, count, expires in Calculation.objects.filter(status=S.RUNNING)
        .order_by()
        .values_list("worker")
        .annotate(count=Count("*"), expires=Max("lease_expires_at"))
    }


def calculations_unfinished_by_equation() -> dict[tuple[str, str], int]:
    """Exact counts of PENDING and RUNNING rows per (status, equation), for /metrics. The cost
    follows the unfinished rows (the status index), not the finished ones."""
    return {
        (status, equation): count
        for status, equation, count in Calculation.objects.filter(status__in=[S.PENDING, S.RUNNING])
        .order_by()
        .values_list("status", "equation")
        .annotate(count=Count("*"))
    }
