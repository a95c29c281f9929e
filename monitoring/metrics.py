"""Prometheus metrics (`/metrics`), with prometheus-client.

Two kinds, each measured where it is true:

- Events are counted by the process they happen in: a calculation finishing (and how long it
  ran) in the worker's pool process, a submission or an HTTP request in the web process. Pool
  processes are forked and short of a port of their own, so these use prometheus-client's
  multiprocess mode when PROMETHEUS_MULTIPROC_DIR is set (`make run` and deploy/ set it for the
  web server and the workers): every process writes its values to files there, and /metrics
  adds them up. Counters and histograms so stay monotonic for `rate()` and
  `histogram_quantile()`, whichever process serves the scrape.
- State is read at scrape time (StateCollector): PENDING and RUNNING rows by equation, the
  oldest waiting calculation, queue depths from the broker and the workers online. It reads
  no finished row, so a scrape costs the same with a million of them.
"""

import os
import time

from django.utils import timezone
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

# From a ten-microsecond chunk member to the default ten-minute hard limit.
DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

CALCULATIONS_SUBMITTED = Counter(
    "calcqueue_calculations_submitted", "Calculations accepted.", ["equation"]
)
CALCULATIONS_FINISHED = Counter(
    "calcqueue_calculations_finished",
    "Calculations that reached a final status.",
    ["equation", "status"],
)
CALCULATION_DURATION = Histogram(
    "calcqueue_calculation_duration_seconds",
    "Time a worker spent on a calculation it claimed, until its result was stored.",
    ["equation", "status"],
    buckets=DURATION_BUCKETS,
)
HTTP_REQUESTS = Counter(
    "calcqueue_http_requests", "HTTP requests answered.", ["method", "route", "status"]
)
HTTP_DURATION = Histogram(
    "calcqueue_http_request_duration_seconds",
    "Time to produce an HTTP response (a streamed body is timed to its first byte).",
    ["method", "route"],
    buckets=HTTP_BUCKETS,
)


def calculation_submitted(*, equation: str, count: int = 1) -> None:
    CALCULATIONS_SUBMITTED.labels(equation).inc(count)


def calculation_finished(*, equation: str, status: str, seconds: float | None = None) -> None:
    """Count a final status; `seconds` is the computing time, when there was one."""
    CALCULATIONS_FINISHED.labels(equation, status).inc()
    if seconds is not None:
        CALCULATION_DURATION.labels(equation, status).observe(seconds)


def http_request_answered(*, method: str, route: str, status: int, seconds: float) -> None:
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_DURATION.labels(method, route).observe(seconds)


class StateCollector(Collector):
    """What is true now, read when Prometheus scrapes."""

    def collect(self):
        from calculations.services import queue_depths
        from equations import registry
        from monitoring import selectors
        from monitoring.workers import workers_snapshot

        started = time.perf_counter()
        unfinished = GaugeMetricFamily(
            "calcqueue_calculations",
            "Calculations waiting or running now.",
            labels=["status", "equation"],
        )
        counts = selectors.calculations_unfinished_by_equation()
        # Every equation and status, zeros included: a series that vanishes reads as unknown.
        keys = {(s, e.key) for s in ("PENDING", "RUNNING") for e in registry.all_equations()}
        for status, equation in sorted(keys | counts.keys()):
            unfinished.add_metric([status, equation], counts.get((status, equation), 0))
        yield unfinished

        oldest = selectors.calculations_backlog().oldest_pending
        yield GaugeMetricFamily(
            "calcqueue_oldest_pending_age_seconds",
            "Age of the oldest PENDING calculation (0 when none waits).",
            value=(timezone.now() - oldest.created_at).total_seconds() if oldest else 0.0,
        )

        depths = queue_depths()
        queued = GaugeMetricFamily(
            "calcqueue_queue_messages", "Messages waiting in a broker queue.", labels=["queue"]
        )
        for queue, depth in sorted((depths or {}).items()):
            queued.add_metric([queue], depth)
        yield queued
        yield GaugeMetricFamily(
            "calcqueue_broker_up", "1 if the broker answered.", value=float(depths is not None)
        )

        snapshot = workers_snapshot()
        yield GaugeMetricFamily(
            "calcqueue_workers_online", "Celery workers answering.", value=snapshot.online
        )
        slots = GaugeMetricFamily(
            "calcqueue_worker_pool_processes", "Pool processes of a worker.", labels=["worker"]
        )
        busy = GaugeMetricFamily(
            "calcqueue_worker_busy_processes",
            "Pool processes of a worker executing a task now.",
            labels=["worker"],
        )
        for worker in snapshot.workers:
            slots.add_metric([worker.hostname], worker.pool_size or 0)
            busy.add_metric([worker.hostname], worker.busy)
        yield slots
        yield busy
        yield GaugeMetricFamily(
            "calcqueue_metrics_scrape_seconds",
            "Time this scrape spent reading the database, the broker and the workers.",
            value=time.perf_counter() - started,
        )


def is_multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def exposition() -> tuple[bytes, str]:
    """The text exposition of every metric, and its content type."""
    registry = CollectorRegistry(auto_describe=False)
    if is_multiprocess():
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(REGISTRY)
    registry.register(StateCollector())
    return generate_latest(registry), CONTENT_TYPE_LATEST
