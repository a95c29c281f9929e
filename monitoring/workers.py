"""The workers online, from Celery's remote control, joined with the claims their rows carry.

Each inspection is a broadcast that waits its whole timeout for replies (a broadcast cannot know
how many workers there are), so the three asked here run side by side, with a short timeout,
and the answer is cached for a few seconds: the dashboard, /metrics and every web process ask
often, the workers are asked at most once per cache period per web process.
"""

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime

import kombu.exceptions
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from calculations.services import BROKER_ERRORS
from monitoring import selectors

logger = logging.getLogger(__name__)
_CACHE_KEY = "monitoring:workers"
_INSPECTIONS = ("stats", "active", "active_queues")


@dataclass(frozen=True)
class Worker:
    hostname: str
    pool_size: int | None
    busy: int  # tasks executing now (a chunk of short work is one)
    queues: list[str]
    answered_at: datetime
    calculations: int = 0  # RUNNING rows claimed by this worker's processes
    last_renewal: datetime | None = None  # newest lease renewal of those rows


@dataclass(frozen=True)
class WorkersSnapshot:
    workers: list[Worker]
    # Nodes with RUNNING rows that did not answer: busy beyond the timeout, or lost (the
    # sweeper rescues their calculations once the leases lapse).
    silent: dict[str, selectors.Claims] = field(default_factory=dict)
    error: str = ""

    @property
    def online(self) -> int:
        return len(self.workers)

    @property
    def processes(self) -> int:
        return sum(worker.pool_size or 0 for worker in self.workers)

    @property
    def busy(self) -> int:
        return sum(worker.busy for worker in self.workers)


def _inspect(command: str, timeout: float) -> dict:
    from config.celery_app import app

    return getattr(app.control.inspect(timeout=timeout), command)() or {}


def workers_inspect() -> tuple[list[Worker], str]:
    """Ask the workers now: (workers that answered, error text if the broker could not be
    asked)."""
    timeout = settings.CALCQUEUE_INSPECT_TIMEOUT_SECONDS
    try:
        with ThreadPoolExecutor(max_workers=len(_INSPECTIONS)) as pool:
            stats, active, queues = pool.map(lambda c: _inspect(c, timeout), _INSPECTIONS)
    except (*BROKER_ERRORS, kombu.exceptions.KombuError) as error:
        logger.warning("workers could not be inspected: %s", error)
        return [], f"the broker could not be reached: {error}"
    answered_at = timezone.now()
    workers = [
        Worker(
            hostname=hostname,
            pool_size=(stats.get(hostname) or {}).get("pool", {}).get("max-concurrency"),
            busy=len(active.get(hostname) or []),
            queues=sorted(queue["name"] for queue in queues.get(hostname) or []),
            answered_at=answered_at,
        )
        for hostname in sorted(set(stats) | set(active) | set(queues))
    ]
    return workers, ""


def workers_snapshot() -> WorkersSnapshot:
    """The workers (cached for CALCQUEUE_WORKERS_CACHE_SECONDS) with their claims (read now)."""
    inspected = cache.get(_CACHE_KEY)
    if inspected is None:
        inspected = workers_inspect()
        cache.set(_CACHE_KEY, inspected, timeout=settings.CALCQUEUE_WORKERS_CACHE_SECONDS)
    workers, error = inspected
    by_node: dict[str, list[selectors.Claims]] = {}
    for claimant, claims in selectors.calculation_claims().items():
        by_node.setdefault(claimant.rpartition(":")[0], []).append(claims)
    nodes = {node: _merge(claims) for node, claims in by_node.items()}
    joined = [
        replace(
            worker,
            calculations=nodes[worker.hostname].running,
            last_renewal=nodes[worker.hostname].last_renewal,
        )
        if worker.hostname in nodes
        else worker
        for worker in workers
    ]
    answered = {worker.hostname for worker in workers}
    silent = {node: claims for node, claims in nodes.items() if node not in answered}
    return WorkersSnapshot(workers=joined, silent=silent, error=error)


def _merge(claims: list[selectors.Claims]) -> selectors.Claims:
    renewals = [c.last_renewal for c in claims if c.last_renewal is not None]
    return selectors.Claims(
        running=sum(c.running for c in claims), last_renewal=max(renewals, default=None)
    )
