"""Celery tasks: each takes an id and calls a service; every one is safe to run twice."""

import contextlib
import os
from datetime import timedelta

import kombu.exceptions
from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from calculations import idempotency, services
from calculations.claims import Claimant
from calculations.memory import release_freed_memory

# Lost database or broker connections (and SQLite busy beyond its timeout) pass; maths
# errors are stored by the service as the calculation's result and never reach here.
TRANSIENT_ERRORS = (OperationalError, InterfaceError, kombu.exceptions.OperationalError)


@shared_task(
    bind=True,
    name="calculations.run_calculation",
    ignore_result=True,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=1,
    retry_backoff_max=30,
    retry_jitter=True,
    max_retries=8,
)
def run_calculation(self, calculation_id: str) -> None:
    claimant = Claimant(node=self.request.hostname, pid=os.getpid())
    try:
        services.calculation_run(calculation_id=calculation_id, claimant=claimant)
    except TRANSIENT_ERRORS:
        # If even that fails, the lease lapses without heartbeats and the sweeper rescues it.
        with contextlib.suppress(*TRANSIENT_ERRORS):
            services.calculations_release(calculation_ids=[calculation_id], claimant=claimant)
        raise
    finally:
        # Long work only: its outputs reach tens of megabytes; a chunk's are small.
        release_freed_memory()


@shared_task(
    bind=True,
    name="calculations.run_calculation_chunk",
    ignore_result=True,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=1,
    retry_backoff_max=30,
    retry_jitter=True,
    max_retries=8,
)
def run_calculation_chunk(self, calculation_ids: list[str]) -> None:
    claimant = Claimant(node=self.request.hostname, pid=os.getpid())
    try:
        services.calculations_run_chunk(calculation_ids=calculation_ids, claimant=claimant)
    except TRANSIENT_ERRORS:
        with contextlib.suppress(*TRANSIENT_ERRORS):
            for calculation_id in calculation_ids:
                services.calculations_release(calculation_ids=[calculation_id], claimant=claimant)
        raise


@shared_task(name="calculations.sweep", ignore_result=True)
def sweep() -> None:
    services.calculations_sweep()


@shared_task(name="calculations.purge_idempotency_keys", ignore_result=True)
def purge_idempotency_keys() -> None:
    idempotency.idempotency_keys_purge()


# Bounds one run (hourly): a long backlog is deleted over several runs instead of holding a
# short-work process for as long as it takes.
PURGE_MAX_ROWS_PER_RUN = 100_000


@shared_task(name="calculations.purge_finished", ignore_result=True)
def purge_finished() -> None:
    if settings.CALCQUEUE_RETENTION_DAYS > 0:
        services.calculations_delete(
            finished_before=timezone.now() - timedelta(days=settings.CALCQUEUE_RETENTION_DAYS),
            max_rows=PURGE_MAX_ROWS_PER_RUN,
        )
