"""The lease keeper: a thread in each worker's main process that extends the leases of the
calculations its pool processes are running, and stops the ones cancelled but not stopping.

It lives in the main process, not in the pool process doing the maths, so that a long
computation inside GMP (which holds that process's GIL) cannot starve it, and so that it
works while every pool process is busy. When a pool process is killed, its calculation
leaves the worker's active requests and its lease lapses.
"""

import logging
import os
import signal
import threading
import time

from celery.signals import worker_ready, worker_shutdown
from celery.worker import state
from django.conf import settings
from django.db import DatabaseError, close_old_connections

from calculations import services

logger = logging.getLogger(__name__)
_RUN_CALCULATION = "calculations.run_calculation"
_RUN_CALCULATION_CHUNK = "calculations.run_calculation_chunk"
_TICK_SECONDS = 0.25


class LeaseKeeper(threading.Thread):
    def __init__(self, node: str) -> None:
        super().__init__(name="calcqueue-lease-keeper", daemon=True)
        self.node = node
        self.stopped = threading.Event()

    def run(self) -> None:
        next_renewal = 0.0
        while not self.stopped.wait(_TICK_SECONDS):
            running = _running_calculations()
            if not running:
                continue
            try:
                if time.monotonic() >= next_renewal:
                    services.calculations_renew_leases(node=self.node, calculation_ids=[*running])
                    next_renewal = time.monotonic() + settings.CALCQUEUE_HEARTBEAT_SECONDS
                self._stop_overdue_cancels(running)
            except DatabaseError as error:
                logger.warning("lease keeper: %s", error)
                close_old_connections()

    def _stop_overdue_cancels(self, running: dict) -> None:
        for calculation_id in services.calculations_overdue_cancels(
            node=self.node, calculation_ids=[*running]
        ):
            request = running[calculation_id]
            # The row is CANCELLED before the kill, so the redelivery that follows the
            # process's death finds nothing to run.
            if request in state.active_requests and request.worker_pid:
                logger.info(
                    "calculation id=%s: stopping pid %s", calculation_id, request.worker_pid
                )
                os.kill(request.worker_pid, signal.SIGKILL)


def _running_calculations() -> dict:
    """The calculations of this worker's active requests, by id, with their request."""
    running = {}
    for request in list(state.active_requests):
        if request.name == _RUN_CALCULATION:
            running[request.id] = request
        elif request.name == _RUN_CALCULATION_CHUNK:
            running.update(dict.fromkeys(request.args[0], request))
    return running


_keeper: LeaseKeeper | None = None


@worker_ready.connect
def start_lease_keeper(sender, **kwargs) -> None:
    global _keeper
    _keeper = LeaseKeeper(node=sender.hostname)
    _keeper.start()


@worker_shutdown.connect
def stop_lease_keeper(**kwargs) -> None:
    if _keeper is not None:
        _keeper.stopped.set()
