"""Every change to notifications goes through these functions: calculations, views, API,
admin and tasks call them.

The transactional outbox, without an outbox table: a submission's subscriptions are written
in the same transaction as its calculations, so once a calculation is final, "a final
calculation with a subscription and no delivery" is the work still to do. After the final
status commits, calculations_finished() asks the notification worker to create and send the
deliveries; if that message is lost, notifications_sweep() finds the same work in the
database. Deliveries are unique per subscription and event, and each attempt claims its
delivery with a conditional UPDATE, so retries and duplicate messages send nothing twice.
"""

import logging
import random
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import kombu.exceptions
import redis.exceptions
from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from accounts.callers import Caller
from calculations import selectors as calculation_selectors
from calculations.models import Calculation
from notifications import events, retries, senders
from notifications.models import Delivery, DeliveryAttempt, Subscription, SubscriptionCalculation
from notifications.targets import EmailTarget, Target

logger = logging.getLogger(__name__)

BROKER_ERRORS = (kombu.exceptions.OperationalError, redis.exceptions.RedisError, OSError)
_SWEEP_BATCH_SIZE = 1000
_NOT_FINAL = [Calculation.Status.PENDING, Calculation.Status.RUNNING]


class DeliveryStateError(Exception):
    """The delivery is not in a state that allows the requested change."""


# --- Subscribing -----------------------------------------------------------------------------


def subscriptions_create(
    *, calculations: Sequence[Calculation], targets: Sequence[Target]
) -> list[Subscription]:
    """Subscribe each target to all of `calculations` (one submission). Call it in the
    transaction that creates the calculations: the rows are the outbox."""
    subscriptions = []
    for target in targets:
        if isinstance(target, EmailTarget):
            subscription = Subscription(kind=Subscription.Kind.EMAIL, target=target.address)
        else:
            subscription = Subscription(
                kind=Subscription.Kind.WEBHOOK, target=target.url, secret=target.secret
            )
        subscriptions.append(subscription)
    with transaction.atomic():
        Subscription.objects.bulk_create(subscriptions)
        SubscriptionCalculation.objects.bulk_create(
            [
                SubscriptionCalculation(subscription=subscription, calculation=calculation)
                for subscription in subscriptions
                for calculation in calculations
            ]
        )
    return subscriptions


# --- The hook: calculations became final -----------------------------------------------------


def calculations_finished(*, calculation_ids: Iterable[uuid.UUID | str]) -> None:
    """Called wherever calculations become final, once their status is stored: after
    commit, one indexed query; a message to the notification worker only for calculations
    somebody subscribed to. A failure here never touches the calculations (the sweeper
    creates what this would have)."""
    ids = list(calculation_ids)
    if ids:
        transaction.on_commit(lambda: _announce(ids), robust=True)


def _announce(calculation_ids: list) -> None:
    from notifications.tasks import prepare_deliveries

    try:
        subscribed = list(
            SubscriptionCalculation.objects.filter(calculation_id__in=calculation_ids)
            .values_list("calculation_id", flat=True)
            .distinct()
        )
        if subscribed:
            prepare_deliveries.delay([str(calculation_id) for calculation_id in subscribed])
    except (DatabaseError, *BROKER_ERRORS) as error:
        logger.warning(
            "notifications of %d calculation(s) left to the sweeper: %s",
            len(calculation_ids),
            error,
        )


# --- Creating deliveries ---------------------------------------------------------------------


def deliveries_create(*, calculation_ids: Sequence[uuid.UUID | str]) -> list[uuid.UUID]:
    """Create the deliveries owed now that these calculations are final: a webhook event per
    subscribed calculation, the email of a subscription once its whole batch is final.
    Idempotent (unique constraints); returns the deliveries not yet attempted, to be sent."""
    now = timezone.now()
    links = list(
        SubscriptionCalculation.objects.filter(
            calculation_id__in=calculation_ids,
            calculation__status__in=Calculation.FINAL_STATUSES,
            subscription__completed_at__isnull=True,
        ).select_related("subscription", "calculation")
    )
    if not links:
        return []
    subscriptions = {link.subscription_id: link.subscription for link in links}
    unfinished = set(
        SubscriptionCalculation.objects.filter(
            subscription_id__in=subscriptions, calculation__status__in=_NOT_FINAL
        ).values_list("subscription_id", flat=True)
    )
    owed = []
    for link in links:
        if link.subscription.kind == Subscription.Kind.WEBHOOK:
            delivery = Delivery(
                subscription_id=link.subscription_id,
                calculation_id=link.calculation_id,
                next_attempt_at=now,
            )
            delivery.payload = events.webhook_body(
                event_id=str(delivery.id), calculation=link.calculation
            )
            owed.append(delivery)
    # A delivery that exists already (a second message, the sweeper) stays as it is.
    Delivery.objects.bulk_create(owed, ignore_conflicts=True)
    finished = [pk for pk in subscriptions if pk not in unfinished]
    _email_deliveries_create(
        [pk for pk in finished if subscriptions[pk].kind == Subscription.Kind.EMAIL], now=now
    )
    _complete(finished, now=now)
    return list(
        Delivery.objects.filter(
            Q(calculation_id__in=calculation_ids) | Q(calculation__isnull=True),
            subscription_id__in=subscriptions,
            status=Delivery.Status.PENDING,
            attempts=0,
        ).values_list("pk", flat=True)
    )


def _email_deliveries_create(subscription_ids: Sequence[uuid.UUID], *, now: datetime) -> None:
    """The one email of each of these subscriptions, whose batches are final."""
    Delivery.objects.bulk_create(
        [Delivery(subscription_id=pk, next_attempt_at=now) for pk in subscription_ids],
        ignore_conflicts=True,
    )


def _complete(subscription_ids: Sequence[uuid.UUID], *, now: datetime) -> None:
    """Close the subscriptions (of final calculations only) whose deliveries all exist."""
    if not subscription_ids:
        return
    open_ = Subscription.objects.filter(pk__in=subscription_ids, completed_at__isnull=True)
    undelivered_event = SubscriptionCalculation.objects.filter(
        subscription_id=OuterRef("pk")
    ).exclude(
        Exists(
            Delivery.objects.filter(
                subscription_id=OuterRef("subscription_id"),
                calculation_id=OuterRef("calculation_id"),
            )
        )
    )
    open_.filter(kind=Subscription.Kind.WEBHOOK).exclude(Exists(undelivered_event)).update(
        completed_at=now
    )
    open_.filter(
        Exists(Delivery.objects.filter(subscription_id=OuterRef("pk"))),
        kind=Subscription.Kind.EMAIL,
    ).update(completed_at=now)


def deliveries_enqueue(delivery_ids: Iterable[uuid.UUID | str], *, countdown: float = 0) -> None:
    """Ask the notification worker to attempt these deliveries (after commit); if the broker
    is down, the sweeper sends them later."""
    ids = [str(delivery_id) for delivery_id in delivery_ids]
    if ids:
        transaction.on_commit(lambda: _publish(ids, countdown), robust=True)


def _publish(delivery_ids: list[str], countdown: float) -> None:
    from notifications.tasks import deliver

    try:
        with deliver.app.producer_or_acquire() as producer:
            for delivery_id in delivery_ids:
                deliver.apply_async((delivery_id,), countdown=countdown, producer=producer)
    except BROKER_ERRORS as error:
        logger.warning(
            "broker unavailable, %d delivery(ies) left to the sweeper: %s", len(delivery_ids), error
        )


# --- Sending ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Claim:
    delivery_id: uuid.UUID | str
    claimed_until: datetime

    def rows(self):
        return Delivery.objects.filter(
            pk=self.delivery_id, status=Delivery.Status.SENDING, claimed_until=self.claimed_until
        )


def delivery_send(*, delivery_id: uuid.UUID | str) -> str:
    """Make one attempt at a delivery that is due, record it, and schedule the next one if it
    failed transiently. Safe to call any number of times: only the caller whose conditional
    update claims the delivery sends; the others return "skipped"."""
    now = timezone.now()
    claim = _Claim(delivery_id, now + timedelta(seconds=settings.CALCQUEUE_NOTIFY_LEASE_SECONDS))
    claimed = Delivery.objects.filter(
        pk=delivery_id, status=Delivery.Status.PENDING, next_attempt_at__lte=now
    ).update(
        status=Delivery.Status.SENDING,
        claimed_until=claim.claimed_until,
        attempts=F("attempts") + 1,
    )
    if not claimed:
        return "skipped"
    delivery = Delivery.objects.select_related("subscription", "calculation").get(pk=delivery_id)
    started_at, clock = timezone.now(), time.perf_counter()
    result = _attempt(delivery)
    duration = time.perf_counter() - clock
    return _record(delivery, claim, result, started_at=started_at, duration=duration)


def _attempt(delivery: Delivery) -> senders.AttemptResult:
    subscription = delivery.subscription
    if subscription.kind == Subscription.Kind.WEBHOOK:
        return senders.webhook_send(
            url=subscription.target,
            body=delivery.payload,
            secret=subscription.secret,
            event_id=str(delivery.pk),
        )
    calculations = list(subscription.calculations.order_by("created_at", "id"))
    if not calculations:
        return senders.AttemptResult(delivered=False, error="its calculations were deleted")
    message = events.email_message(
        delivery_id=str(delivery.pk), address=subscription.target, calculations=calculations
    )
    return senders.email_send(message)


def _record(
    delivery: Delivery,
    claim: _Claim,
    result: senders.AttemptResult,
    *,
    started_at: datetime,
    duration: float,
) -> str:
    now = timezone.now()
    last = delivery.attempts >= settings.CALCQUEUE_NOTIFY_MAX_ATTEMPTS
    if result.delivered:
        outcome, fields = (
            DeliveryAttempt.Outcome.DELIVERED,
            {
                "status": Delivery.Status.DELIVERED,
                "delivered_at": now,
                "last_error": "",
            },
        )
    elif result.retryable and not last:
        delay = retries.backoff_seconds(
            attempt=delivery.attempts,
            base=settings.CALCQUEUE_NOTIFY_BACKOFF_SECONDS,
            maximum=settings.CALCQUEUE_NOTIFY_BACKOFF_MAX_SECONDS,
            rng=random.SystemRandom(),
        )
        asked = retries.retry_after_seconds(result.retry_after, now=now)
        if asked is not None:
            # Honoured, within the cap that bounds a delivery's total time.
            delay = min(max(delay, asked), settings.CALCQUEUE_NOTIFY_BACKOFF_MAX_SECONDS)
        outcome, fields = (
            DeliveryAttempt.Outcome.RETRY,
            {
                "status": Delivery.Status.PENDING,
                "next_attempt_at": now + timedelta(seconds=delay),
                "last_error": result.error,
            },
        )
    else:
        outcome, fields = (
            DeliveryAttempt.Outcome.FAILED,
            {
                "status": Delivery.Status.FAILED,
                "last_error": result.error
                + (f" (gave up after {delivery.attempts} attempts)" if result.retryable else ""),
            },
        )
    with transaction.atomic():
        DeliveryAttempt.objects.create(
            delivery=delivery,
            started_at=started_at,
            duration_seconds=duration,
            status_code=result.status_code,
            error=result.error,
            outcome=outcome,
        )
        # Only while the claim stands: a claim that outlived its lease was taken over.
        stored = claim.rows().update(**fields, claimed_until=None)
    if stored and outcome == DeliveryAttempt.Outcome.RETRY:
        deliveries_enqueue([delivery.pk], countdown=delay)
    logger.info(
        "delivery id=%s kind=%s attempt=%d outcome=%s status_code=%s duration=%.3fs %s",
        delivery.pk,
        delivery.subscription.kind,
        delivery.attempts,
        outcome,
        result.status_code,
        duration,
        result.error,
    )
    return outcome


# --- Sending again ---------------------------------------------------------------------------


def delivery_resend(*, delivery_id: uuid.UUID | str) -> Delivery:
    """Send a FAILED delivery again, with a new round of attempts; raises
    DeliveryStateError for any other status and Delivery.DoesNotExist."""
    delivery = Delivery.objects.get(pk=delivery_id)
    resent = Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.FAILED).update(
        status=Delivery.Status.PENDING,
        attempts=0,
        resends=F("resends") + 1,
        next_attempt_at=timezone.now(),
    )
    if not resent:
        raise DeliveryStateError(
            f"only a failed delivery can be sent again; this one is {delivery.status}"
        )
    deliveries_enqueue([delivery.pk])
    delivery.refresh_from_db()
    return delivery


def notification_resend(
    *, caller: Caller, calculation_id: uuid.UUID | str, subscription_id: uuid.UUID | str
) -> Delivery:
    """Send again the failed delivery of a calculation the caller can see (its webhook
    event, or the email of its batch); raises Calculation.DoesNotExist,
    SubscriptionCalculation.DoesNotExist, Delivery.DoesNotExist or DeliveryStateError."""
    calculation_selectors.calculation_get(caller=caller, calculation_id=calculation_id)
    link = SubscriptionCalculation.objects.select_related("subscription").get(
        calculation_id=calculation_id, subscription_id=subscription_id
    )
    calculation = calculation_id if link.subscription.kind == Subscription.Kind.WEBHOOK else None
    delivery = Delivery.objects.get(subscription_id=subscription_id, calculation_id=calculation)
    return delivery_resend(delivery_id=delivery.pk)


# --- Sweeping --------------------------------------------------------------------------------


@dataclass(frozen=True)
class NotificationSweepReport:
    created: int = 0
    requeued: int = 0
    reclaimed: int = 0

    def __bool__(self) -> bool:
        return bool(self.created or self.requeued or self.reclaimed)


def notifications_sweep(*, now: datetime | None = None) -> NotificationSweepReport:
    """Find the notification work whose message was lost (Redis down or emptied, a worker
    killed) and do it: deliveries not created for final calculations, due deliveries not
    attempted, and attempts whose worker died."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.CALCQUEUE_NOTIFY_REQUEUE_AFTER_SECONDS)

    # Every calculation of a deleted batch gone: nothing is owed any more.
    Subscription.objects.filter(completed_at__isnull=True, created_at__lt=cutoff).exclude(
        Exists(SubscriptionCalculation.objects.filter(subscription_id=OuterRef("pk")))
    ).update(completed_at=now)
    webhook_owed = SubscriptionCalculation.objects.filter(
        subscription__completed_at__isnull=True,
        subscription__kind=Subscription.Kind.WEBHOOK,
        calculation__status__in=Calculation.FINAL_STATUSES,
        calculation__finished_at__lt=cutoff,
    ).exclude(
        Exists(
            Delivery.objects.filter(
                subscription_id=OuterRef("subscription_id"),
                calculation_id=OuterRef("calculation_id"),
            )
        )
    )
    ids = list(webhook_owed.values_list("calculation_id", flat=True)[:_SWEEP_BATCH_SIZE])
    created = deliveries_create(calculation_ids=ids) if ids else []
    email_owed = list(
        Subscription.objects.filter(
            completed_at__isnull=True, kind=Subscription.Kind.EMAIL, created_at__lt=cutoff
        )
        .exclude(
            Exists(
                SubscriptionCalculation.objects.filter(
                    subscription_id=OuterRef("pk"), calculation__status__in=_NOT_FINAL
                )
            )
        )
        .values_list("pk", flat=True)[:_SWEEP_BATCH_SIZE]
    )
    _email_deliveries_create(email_owed, now=now)
    _complete(email_owed, now=now)
    created += Delivery.objects.filter(
        subscription_id__in=email_owed, status=Delivery.Status.PENDING, attempts=0
    ).values_list("pk", flat=True)

    # Attempts whose worker died: counted already, so a delivery that kills its worker
    # every time still ends FAILED at the cap.
    lapsed = list(
        Delivery.objects.filter(status=Delivery.Status.SENDING, claimed_until__lt=now).values_list(
            "pk", "attempts", "claimed_until"
        )[:_SWEEP_BATCH_SIZE]
    )
    reclaimed = 0
    for delivery_id, attempts, claimed_until in lapsed:
        exhausted = attempts >= settings.CALCQUEUE_NOTIFY_MAX_ATTEMPTS
        reclaimed += (
            _Claim(delivery_id, claimed_until)
            .rows()
            .update(
                status=Delivery.Status.FAILED if exhausted else Delivery.Status.PENDING,
                claimed_until=None,
                next_attempt_at=now,
                last_error="the worker was lost during the attempt"
                + (f" (gave up after {attempts} attempts)" if exhausted else ""),
            )
        )

    due = list(
        Delivery.objects.filter(
            status=Delivery.Status.PENDING, next_attempt_at__lt=cutoff
        ).values_list("pk", flat=True)[:_SWEEP_BATCH_SIZE]
    )
    due += [delivery_id for delivery_id, *_ in lapsed]
    deliveries_enqueue(set(due) | set(created))
    report = NotificationSweepReport(len(created), len(due), reclaimed)
    if report:
        logger.info(
            "notification sweep: %d delivery(ies) created, %d requeued, %d reclaimed",
            report.created,
            report.requeued,
            report.reclaimed,
        )
    return report
