"""Celery tasks: each takes ids and calls a service; every one is safe to run twice.
All run on the notifications queue (CELERY_TASK_ROUTES), beside no calculation."""

from celery import shared_task

from calculations.tasks import TRANSIENT_ERRORS
from notifications import services

_RETRY = {
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": 1,
    "retry_backoff_max": 30,
    "retry_jitter": True,
    "max_retries": 8,
}


@shared_task(name="notifications.prepare_deliveries", ignore_result=True, **_RETRY)
def prepare_deliveries(calculation_ids: list[str]) -> None:
    # Deliveries are unique per subscription and event: a second run creates nothing.
    services.deliveries_enqueue(services.deliveries_create(calculation_ids=calculation_ids))


@shared_task(name="notifications.deliver", ignore_result=True, **_RETRY)
def deliver(delivery_id: str) -> None:
    # A run that cannot claim the delivery (sent, in progress elsewhere, not due) returns.
    services.delivery_send(delivery_id=delivery_id)


@shared_task(name="notifications.sweep", ignore_result=True)
def sweep() -> None:
    services.notifications_sweep()
