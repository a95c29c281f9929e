"""The lease keeper: a thread in each worker's main process that extends the leases of the
calculations its pool processes are running.

It lives in the main process, not in the pool process doing the maths, so that a long
computation inside GMP (which holds the GIL) cannot starve it; and when a pool process is
killed, its calculation leaves the worker's active requests and its lease lapses.
"""

import logging
import threading

from celery.signals import worker_ready, worker_shutdown
from celery.worker import state
from django.conf import settings
from django.db import DatabaseError, close_old_connections

from calculations import services

logger = logging.getLogger(__name__)
_RUN_CALCULATION = "calculations.run_calculation"


class LeaseKeeper(threading.Thread):
    def __init__(self, node: str) -> None:
        super().__init__(name="calcqueue-lease-keeper", daemon=True)
        self.node = node
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(settings.CALCQUEUE_HEARTBEAT_SECONDS):
            running = [r.id for r in list(state.active_requests) if r.name == _RUN_CALCULATION]
            try:
                services.calculations_renew_leases(node=self.node, calculation_ids=running)
            except DatabaseError as error:
                logger.warning("leases not renewed: %s", error)
                close_old_connections()


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
