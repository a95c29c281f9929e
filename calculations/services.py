"""Every change to a calculation goes through these functions: views, admin, tasks call them."""

import contextlib
import logging
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import amqp.exceptions
import kombu.exceptions
import redis.exceptions
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.callers import Caller
from calculations import admission, bulk, events, selectors, validation
from calculations.claims import Claimant, Decision, decide
from calculations.models import Calculation, CalculationOutput
from calculations.output import summarise
from calculations.progress import ProgressRecorder
from calculations.routing import plan_messages
from equations.base import CalculationCancelled
from equations.evaluation import evaluate
from monitoring import metrics
from notifications import services as notifications
from notifications.targets import Target

logger = logging.getLogger(__name__)

_DELETE_BATCH_SIZE = 1000
_SWEEP_BATCH_SIZE = 1000
# What finishing a calculation writes to its row.
_FINISH_FIELDS = (
    "status",
    "error",
    "finished_at",
    "lease_expires_at",
    "output_digits",
    "output_head",
    "output_tail",
    "progress",
)
# What a publish or a queue query raises when the broker (Redis or RabbitMQ) is unreachable,
# refuses the message (a RabbitMQ nack) or does not confirm it in time.
BROKER_ERRORS = (
    kombu.exceptions.OperationalError,
    redis.exceptions.RedisError,
    amqp.exceptions.AMQPError,
    amqp.exceptions.MessageNacked,
    OSError,
)


class CalculationStateError(Exception):
    """The calculation is not in a state that allows the requested change."""


def time_limits_for(equation: str) -> tuple[float, float]:
    """(soft, hard) time limits in seconds for calculations of `equation`."""
    return settings.CALCQUEUE_TIME_LIMITS.get(equation, settings.CALCQUEUE_DEFAULT_TIME_LIMITS)


# --- Submitting ------------------------------------------------------------------------------


def calculations_submit(
    *, caller: Caller, equation: str, inputs: Sequence[int], notify: Sequence[Target] = ()
) -> list[Calculation]:
    """Create one PENDING calculation per input, owned by the caller, and enqueue them once
    the rows are committed.

    All or nothing: one invalid input raises ValidationError and creates nothing; a caller
    over their rate limit, or a full queue, raises admission.SubmissionRefused. Each of
    `notify` (checked targets, notifications.targets) is told when they are final.
    """
    spec = validation.equation_for(equation)
    validation.validate_inputs(spec, inputs, signed_in=caller.is_signed_in)
    admission.submission_admit(caller=caller)
    return _create([(spec.key, n) for n in inputs], owner=_owner(caller), notify=notify)


def calculations_submit_items(
    *, caller: Caller, items: Sequence[tuple[str, int]], notify: Sequence[Target] = ()
) -> list[Calculation]:
    """Create a PENDING calculation per (equation, n), of any equations, all or nothing
    (ValidationError names the item at fault), and enqueue them after commit."""
    validation.validate_items(
        items, max_batch=settings.CALCQUEUE_API_MAX_BATCH, signed_in=caller.is_signed_in
    )
    admission.submission_admit(caller=caller)
    return _create(
        [(validation.equation_for(key).key, n) for key, n in items],
        owner=_owner(caller),
        notify=notify,
    )


def _owner(caller: Caller) -> dict:
    if caller.is_signed_in:
        return {"owner_id": caller.user_id, "anonymous_key": ""}
    if not caller.anonymous_key:
        raise ValueError("an anonymous caller needs a session key to own calculations")
    return {"owner_id": None, "anonymous_key": caller.anonymous_key}


def _create(
    items: Sequence[tuple[str, int]],
    *,
    owner: dict,
    retry_of: Calculation | None = None,
    notify: Sequence[Target] = (),
) -> list[Calculation]:
    now = timezone.now()
    # One microsecond apart, so that a batch lists in the order it was given.
    calculations = [
        Calculation(
            equation=equation,
            n=n,
            created_at=now + timedelta(microseconds=index),
            enqueued_at=now,
            retry_of=retry_of,
            **owner,
        )
        for index, (equation, n) in enumerate(items)
    ]
    with transaction.atomic():
        bulk.insert_rows(calculations)
        if notify:
            notifications.subscriptions_create(calculations=calculations, targets=notify)
        # A worker must never receive an id whose row it cannot see yet.
        transaction.on_commit(lambda: _accepted(calculations), robust=True)
    return calculations


def _accepted(calculations: Sequence[Calculation]) -> None:
    """Once committed: count the submissions for /metrics and publish them."""
    for equation, count in Counter(calculation.equation for calculation in calculations).items():
        metrics.calculation_submitted(equation=equation, count=count)
    _enqueue(calculations)


def _enqueue(calculations: Iterable[Calculation]) -> None:
    """Publish the calculations' ids (routing.py decides queues and chunks); if the broker is
    down, leave them PENDING for the sweeper."""
    from calculations.tasks import run_calculation, run_calculation_chunk

    messages = list(plan_messages(calculations))
    if not messages:
        return
    try:
        with run_calculation.app.producer_or_acquire() as producer:
            for message in messages:
                soft, hard = time_limits_for(message.equation)
                if message.is_chunk:
                    run_calculation_chunk.apply_async(
                        (message.calculation_ids,),
                        queue=message.queue,
                        producer=producer,
                        soft_time_limit=soft,
                        time_limit=hard,
                        **settings.CALCQUEUE_PUBLISH_OPTIONS,
                    )
                else:
                    (calculation_id,) = message.calculation_ids
                    # The task id is the calculation id: the lease keeper finds it by that id.
                    run_calculation.apply_async(
                        (calculation_id,),
                        task_id=calculation_id,
                        queue=message.queue,
                        producer=producer,
                        soft_time_limit=soft,
                        time_limit=hard,
                        **settings.CALCQUEUE_PUBLISH_OPTIONS,
                    )
    except BROKER_ERRORS as error:
        count = sum(len(message.calculation_ids) for message in messages)
        logger.warning(
            "broker unavailable, %d calculation(s) stay PENDING for the sweeper: %s",
            count,
            error,
        )


# --- Running ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Claim:
    calculation: Calculation
    started_at: datetime
    worker: str

    def rows(self):
        return Calculation.objects.filter(
            pk=self.calculation.pk,
            status=Calculation.Status.RUNNING,
            started_at=self.started_at,
            worker=self.worker,
        )


def _observed(calculation: Calculation):
    """The row, only while it is still exactly as it was read (optimistic concurrency)."""
    return Calculation.objects.filter(
        pk=calculation.pk,
        status=calculation.status,
        attempts=calculation.attempts,
        started_at=calculation.started_at,
    )


def calculation_run(*, calculation_id: uuid.UUID | str, claimant: Claimant) -> None:
    """Claim a calculation, compute it and store its result, its error or its cancellation.

    Safe to call any number of times for the same id: only the caller whose conditional
    update claims the row computes; every other delivery finds nothing to do and returns.
    """
    calculation = Calculation.objects.filter(pk=calculation_id).first()
    if calculation is None:
        logger.info("calculation id=%s skipped: deleted", calculation_id)
        return
    now = timezone.now()
    soft_limit, hard_limit = time_limits_for(calculation.equation)
    decision = decide(
        calculation,
        now=now,
        max_attempts=settings.CALCQUEUE_MAX_ATTEMPTS,
        hard_time_limit=hard_limit,
        claimant=claimant,
    )
    if decision is Decision.SKIP:
        logger.info("calculation id=%s skipped: %s", calculation.pk, calculation.status)
        return
    if decision is not Decision.RUN:
        _settle_abandoned(calculation, decision, hard_limit=hard_limit, now=now)
        return
    claimed = _observed(calculation).update(
        status=Calculation.Status.RUNNING,
        started_at=now,
        finished_at=None,
        worker=claimant.name,
        attempts=F("attempts") + 1,
        lease_expires_at=now + timedelta(seconds=settings.CALCQUEUE_LEASE_SECONDS),
        progress=None,
    )
    if not claimed:
        logger.info("calculation id=%s skipped: claimed by another delivery", calculation.pk)
        return
    _compute(_Claim(calculation, now, claimant.name), soft_limit=soft_limit)


def _compute(claim: _Claim, *, soft_limit: float) -> None:
    calculation = claim.calculation
    clock = time.perf_counter()
    progress = ProgressRecorder(
        calculation_id=calculation.pk,
        started_at=claim.started_at,
        interval=settings.CALCQUEUE_PROGRESS_INTERVAL_SECONDS,
    )
    try:
        spec = validation.equation_for(calculation.equation)
        decimal = evaluate(spec, calculation.n, progress)
    except CalculationCancelled:
        outcome = _finish(claim, status=Calculation.Status.CANCELLED)
    except SoftTimeLimitExceeded:
        message = f"time limit exceeded after {soft_limit:g} s"
        outcome = _finish(claim, status=Calculation.Status.ERROR, error=message)
    except Exception as error:  # Any failure of the maths is the result.
        message = f"{type(error).__name__}: {error}"
        logger.warning("calculation id=%s failed", calculation.pk, exc_info=True)
        outcome = _finish(claim, status=Calculation.Status.ERROR, error=message)
    else:
        outcome = _finish(claim, status=Calculation.Status.SUCCESS, decimal=decimal)
    _finished(
        calculation,
        outcome=outcome,
        seconds=time.perf_counter() - clock,
        digits=len(decimal) if outcome == Calculation.Status.SUCCESS else None,
    )


def _announce_final(*, calculation_ids: Iterable[uuid.UUID | str]) -> None:
    """Once the final statuses are committed: long polls answer, notifications go out."""
    ids = list(calculation_ids)
    events.calculations_announce_final(calculation_ids=ids)
    notifications.calculations_finished(calculation_ids=ids)


def _finished(
    calculation: Calculation,
    *,
    outcome: str,
    seconds: float | None,
    digits: int | None = None,
    reason: str = "",
) -> None:
    """The one log line of a calculation that ran or was settled, and its metrics."""
    stored = outcome in Calculation.FINAL_STATUSES
    logger.info(
        "calculation id=%s equation=%s n=%d status=%s duration=%s digits=%s%s",
        calculation.pk,
        calculation.equation,
        calculation.n,
        outcome,
        "-" if seconds is None else f"{seconds:.6f}s",
        "-" if digits is None else digits,
        f" ({reason})" if reason else "",
        extra={
            "calculation_id": str(calculation.pk),
            "equation": calculation.equation,
            "n": calculation.n,
            "status": outcome,
            "duration_seconds": seconds,
            "digits": digits,
        },
    )
    if stored:
        metrics.calculation_finished(equation=calculation.equation, status=outcome, seconds=seconds)


def _finish(
    claim: _Claim,
    *,
    status: Calculation.Status,
    decimal: str | None = None,
    error: str = "",
) -> str:
    """Store the outcome if the claim still stands; return what the row says now."""
    fields: dict = {
        "status": status,
        "finished_at": timezone.now(),
        "error": error,
        "lease_expires_at": None,
    }
    if decimal is not None:
        summary = summarise(decimal)
        fields |= {
            "output_digits": summary.digits,
            "output_head": summary.head,
            "output_tail": summary.tail,
            "progress": 1.0,
        }
    with transaction.atomic():
        stored = claim.rows().update(**fields)
        if stored and decimal is not None:
            CalculationOutput.objects.create(calculation_id=claim.calculation.pk, digits=decimal)
    if stored:
        _announce_final(calculation_ids=[claim.calculation.pk])
        return status
    return f"{status} not stored: claim lost"


def calculations_run_chunk(*, calculation_ids: Sequence[str], claimant: Claimant) -> None:
    """Run a chunk of short calculations with one claim and one write for all of them.

    Each calculation keeps the guarantees of calculation_run: it is claimed by the same
    conditional update (PENDING → RUNNING, counted as an attempt), its result is stored only
    while its claim stands, and a row that is not PENDING (a redelivery after a lost worker)
    goes through calculation_run on its own.
    """
    now = timezone.now()
    claimed = bulk.update_returning(
        Calculation,
        pks=calculation_ids,
        where={"status": Calculation.Status.PENDING},
        below={"attempts": settings.CALCQUEUE_MAX_ATTEMPTS},
        assignments={
            "status": Calculation.Status.RUNNING,
            "started_at": now,
            "finished_at": None,
            "worker": claimant.name,
            "lease_expires_at": now + timedelta(seconds=settings.CALCQUEUE_LEASE_SECONDS),
            "progress": None,
        },
        increments=["attempts"],
    )
    claimed.sort(key=lambda calculation: calculation.created_at)
    unclaimed = set(map(str, calculation_ids)) - {str(calculation.pk) for calculation in claimed}
    if unclaimed:
        for calculation_id in (
            Calculation.objects.filter(pk__in=unclaimed)
            .exclude(status__in=Calculation.FINAL_STATUSES)
            .values_list("pk", flat=True)
        ):
            calculation_run(calculation_id=calculation_id, claimant=claimant)

    finished: list[Calculation] = []
    durations: dict[uuid.UUID, float] = {}
    outputs: list[CalculationOutput] = []
    unrun: list[Calculation] = []
    for index, calculation in enumerate(claimed):
        clock = time.perf_counter()
        calculation.status, calculation.error, decimal = Calculation.Status.SUCCESS, "", None
        try:
            decimal = evaluate(validation.equation_for(calculation.equation), calculation.n)
        except SoftTimeLimitExceeded:
            soft_limit, _ = time_limits_for(calculation.equation)
            calculation.status = Calculation.Status.ERROR
            calculation.error = f"time limit exceeded after {soft_limit:g} s"
            unrun = claimed[index + 1 :]
        except Exception as error:  # Any failure of the maths is the result.
            logger.warning("calculation id=%s failed", calculation.pk, exc_info=True)
            calculation.status = Calculation.Status.ERROR
            calculation.error = f"{type(error).__name__}: {error}"
        calculation.finished_at = timezone.now()
        calculation.lease_expires_at = None
        if decimal is not None:
            summary = summarise(decimal)
            calculation.output_digits = summary.digits
            calculation.output_head, calculation.output_tail = summary.head, summary.tail
            calculation.progress = 1.0
            outputs.append(CalculationOutput(calculation_id=calculation.pk, digits=decimal))
        durations[calculation.pk] = time.perf_counter() - clock
        finished.append(calculation)
        if unrun:
            break

    with transaction.atomic():
        # The write lock (row locks on PostgreSQL, the database lock of a SQLite IMMEDIATE
        # transaction) keeps every claim checked here standing until the results are stored.
        standing = set(
            Calculation.objects.select_for_update()
            .filter(
                pk__in=[calculation.pk for calculation in finished],
                status=Calculation.Status.RUNNING,
                started_at=now,
                worker=claimant.name,
            )
            .values_list("pk", flat=True)
        )
        bulk.update_rows(
            [calculation for calculation in finished if calculation.pk in standing],
            _FINISH_FIELDS,
        )
        CalculationOutput.objects.bulk_create(
            [output for output in outputs if output.calculation_id in standing]
        )
    for calculation in finished:
        _finished(
            calculation,
            outcome=calculation.status
            if calculation.pk in standing
            else f"{calculation.status} not stored: claim lost",
            seconds=durations[calculation.pk],
            digits=calculation.output_digits
            if calculation.status == Calculation.Status.SUCCESS
            else None,
        )
    if unrun:
        calculations_release(
            calculation_ids=[calculation.pk for calculation in unrun], claimant=claimant
        )
        _enqueue(unrun)
    _announce_final(calculation_ids=standing)


def calculations_release(*, calculation_ids: Sequence[uuid.UUID | str], claimant: Claimant) -> None:
    """Give claims back after a transient failure, without counting them as attempts."""
    Calculation.objects.filter(
        pk__in=calculation_ids, status=Calculation.Status.RUNNING, worker=claimant.name
    ).update(
        status=Calculation.Status.PENDING,
        attempts=F("attempts") - 1,
        worker="",
        started_at=None,
        lease_expires_at=None,
        enqueued_at=timezone.now(),
    )


def calculations_renew_leases(*, node: str, calculation_ids: Sequence[str]) -> int:
    """Extend the leases of the calculations this worker node is running right now."""
    if not calculation_ids:
        return 0
    return Calculation.objects.filter(
        pk__in=calculation_ids, status=Calculation.Status.RUNNING, worker__startswith=f"{node}:"
    ).update(lease_expires_at=timezone.now() + timedelta(seconds=settings.CALCQUEUE_LEASE_SECONDS))


def _settle_abandoned(
    calculation: Calculation, decision: Decision, *, hard_limit: float, now: datetime
) -> bool:
    """Finish a calculation that must not run again; True if this call finished it."""
    if decision is Decision.CANCEL:
        fields = {"status": Calculation.Status.CANCELLED, "error": ""}
    elif decision is Decision.TIME_OUT:
        fields = {
            "status": Calculation.Status.ERROR,
            "error": f"time limit exceeded after {hard_limit:g} s "
            "(hard limit: the worker process was killed)",
        }
    else:
        fields = {
            "status": Calculation.Status.ERROR,
            "error": f"gave up after {calculation.attempts} attempts: worker lost",
        }
    settled = _observed(calculation).update(**fields, finished_at=now, lease_expires_at=None)
    if settled:
        _announce_final(calculation_ids=[calculation.pk])
        _finished(
            calculation,
            outcome=fields["status"],
            seconds=None,
            reason=fields["error"] or "cancelled",
        )
    return bool(settled)


# --- Cancel and retry ------------------------------------------------------------------------


def calculation_cancel(*, caller: Caller, calculation_id: uuid.UUID | str) -> Calculation:
    """Cancel a calculation: a PENDING one at once, a RUNNING one within about a second.

    A RUNNING computation stops at its next progress check; one that does not check in time
    is stopped by its worker's lease keeper. Raises Calculation.DoesNotExist (also for one
    the caller may not see); a finished calculation is returned unchanged.
    """
    now = timezone.now()
    rows = selectors.calculations_visible(caller=caller).filter(pk=calculation_id)
    cancelled = rows.filter(status=Calculation.Status.PENDING).update(
        status=Calculation.Status.CANCELLED, cancel_requested_at=now, finished_at=now
    )
    if not cancelled:
        rows.filter(status=Calculation.Status.RUNNING, cancel_requested_at__isnull=True).update(
            cancel_requested_at=now
        )
    calculation = rows.get()
    if cancelled:
        _announce_final(calculation_ids=[calculation_id])
        _finished(calculation, outcome=Calculation.Status.CANCELLED, seconds=None)
    return calculation


def calculations_overdue_cancels(*, node: str, calculation_ids: Sequence[str]) -> list[str]:
    """Settle as CANCELLED the calculations of this node whose cancel was not honoured within
    the grace period, and return their ids so that the caller stops their processes."""
    cutoff = timezone.now() - timedelta(seconds=settings.CALCQUEUE_CANCEL_GRACE_SECONDS)
    overdue = Calculation.objects.filter(
        pk__in=calculation_ids,
        status=Calculation.Status.RUNNING,
        worker__startswith=f"{node}:",
        cancel_requested_at__lt=cutoff,
    )
    return [
        str(calculation.pk)
        for calculation in overdue
        if _settle_abandoned(calculation, Decision.CANCEL, hard_limit=0, now=timezone.now())
    ]


def calculation_retry(*, caller: Caller, calculation_id: uuid.UUID | str) -> Calculation:
    """Submit a failed or cancelled calculation again, as a new calculation linked to it and
    owned by the first one's owner (staff retrying a user's calculation retry it for them).

    A new row keeps the history of the first attempt intact (its error, its timings).
    Raises Calculation.DoesNotExist, CalculationStateError, ValidationError or
    admission.SubmissionRefused.
    """
    original = selectors.calculation_get(caller=caller, calculation_id=calculation_id)
    if not original.can_retry:
        raise CalculationStateError(
            f"only ERROR or CANCELLED calculations can be retried; this one is {original.status}"
        )
    equation = validation.equation_for(original.equation)
    validation.validate_inputs(equation, [original.n], signed_in=caller.is_signed_in)
    admission.submission_admit(caller=caller)
    (retry,) = _create(
        [(equation.key, original.n)],
        owner={"owner_id": original.owner_id, "anonymous_key": original.anonymous_key},
        retry_of=original,
    )
    return retry


def calculation_delete(*, caller: Caller, calculation_id: uuid.UUID | str) -> None:
    """Delete a calculation and its output; raises Calculation.DoesNotExist (also for one the
    caller may not see).

    A RUNNING computation notices at its next progress check (its claim matches no row) and
    stops; a result that arrives later matches no row and is dropped.
    """
    with transaction.atomic():
        calculation = (
            selectors.calculations_visible(caller=caller).select_for_update().get(pk=calculation_id)
        )
        CalculationOutput.objects.filter(calculation_id=calculation.pk).delete()
        Calculation.objects.filter(retry_of=calculation.pk).update(retry_of=None)
        calculation.delete()


def calculations_adopt(*, anonymous_key: str, user_id: int) -> int:
    """Give the calculations an anonymous visitor made in their session to the user they
    signed in as; returns how many."""
    if not anonymous_key:
        return 0
    return Calculation.objects.filter(owner__isnull=True, anonymous_key=anonymous_key).update(
        owner_id=user_id, anonymous_key=""
    )


# --- Sweeping --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepReport:
    requeued_running: int = 0
    settled: int = 0
    requeued_pending: int = 0

    def __bool__(self) -> bool:
        return bool(self.requeued_running or self.settled or self.requeued_pending)


def queue_depths() -> dict[str, int] | None:
    """Messages waiting in each calculation queue, or None when the broker cannot tell."""
    from config.celery_app import app

    try:
        with app.connection_for_read() as connection, contextlib.ExitStack() as opened:
            # One attempt: a dashboard refresh or a sweep must not wait out a retry loop.
            connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0)
            channel, depths = connection.default_channel, {}
            for name in app.amqp.queues:
                try:
                    depths[name] = channel.queue_declare(queue=name, passive=True).message_count
                except (kombu.exceptions.ChannelError, *connection.channel_errors):
                    # Redis keeps no key for an empty queue, and a queue nobody declared yet
                    # holds nothing.
                    depths[name] = 0
                    if not getattr(channel, "is_open", True):
                        # An AMQP broker closes the channel of a failed passive declare.
                        channel = opened.enter_context(connection.channel())
            return depths
    except BROKER_ERRORS as error:
        logger.warning("queue depth unknown: %s", error)
        return None


def queue_depth() -> int | None:
    """Messages waiting in all the calculation queues, or None when the broker cannot tell."""
    depths = queue_depths()
    return None if depths is None else sum(depths.values())


def calculations_sweep(*, now: datetime | None = None) -> SweepReport:
    """Rescue work that no worker will finish on its own.

    - A RUNNING calculation whose lease lapsed lost its worker: it goes back to PENDING and
      is enqueued again, or ends CANCELLED / ERROR (time limit, too many attempts).
    - A PENDING calculation enqueued longer ago than the grace period, while the queue holds
      fewer messages than there are such calculations, may have lost its message (Redis down
      at submit, restarted empty, flushed): it is enqueued again. A duplicate message is
      harmless, because a delivery only runs what it can claim.
    """
    now = now or timezone.now()
    rescued: list[Calculation] = []
    settled = 0
    lapsed = Calculation.objects.filter(
        status=Calculation.Status.RUNNING, lease_expires_at__lt=now
    ).order_by("lease_expires_at")[:_SWEEP_BATCH_SIZE]
    for calculation in lapsed:
        _, hard_limit = time_limits_for(calculation.equation)
        decision = decide(
            calculation,
            now=now,
            max_attempts=settings.CALCQUEUE_MAX_ATTEMPTS,
            hard_time_limit=hard_limit,
        )
        if decision is Decision.RUN:
            if _observed(calculation).update(
                status=Calculation.Status.PENDING,
                worker="",
                lease_expires_at=None,
                progress=None,
                enqueued_at=now,
            ):
                rescued.append(calculation)
        elif decision is not Decision.SKIP:
            settled += _settle_abandoned(calculation, decision, hard_limit=hard_limit, now=now)

    _enqueue(rescued)
    requeued_running = len(rescued)

    cutoff = now - timedelta(seconds=settings.CALCQUEUE_REQUEUE_AFTER_SECONDS)
    stale = Calculation.objects.filter(status=Calculation.Status.PENDING, enqueued_at__lt=cutoff)
    stale_count = stale.count()
    requeued_pending = 0
    if stale_count:
        depth = queue_depth()
        if depth is None or depth < stale_count:
            batch = list(stale.order_by("enqueued_at")[:_SWEEP_BATCH_SIZE])
            Calculation.objects.filter(pk__in=[c.pk for c in batch]).update(enqueued_at=now)
            _enqueue(batch)
            requeued_pending = len(batch)
    report = SweepReport(requeued_running, settled, requeued_pending)
    if report:
        logger.info(
            "sweep: %d lost-worker calculation(s) requeued, %d settled, %d pending requeued",
            requeued_running,
            settled,
            requeued_pending,
        )
    return report


# --- Deleting --------------------------------------------------------------------------------


def calculations_delete(
    *, finished_before: datetime | None = None, max_rows: int | None = None
) -> int:
    """Delete every calculation, or only the finished ones older than `finished_before`;
    at most about `max_rows` (whole batches) when given.

    Deletes in batches so that a large table is never locked by one long transaction.
    """
    if finished_before is None:
        candidates = Calculation.objects.order_by()
    else:
        # Only a final status sets finished_at, so the range alone finds the old rows, oldest
        # first, from the (finished_at, status) index; with the status in the filter SQLite's
        # planner would walk the status index over every finished row instead. The status is
        # checked again below, inside the transaction.
        candidates = Calculation.objects.filter(finished_at__lt=finished_before).order_by(
            "finished_at"
        )
    deleted = 0
    while (max_rows is None or deleted < max_rows) and (
        batch := list(candidates.values_list("pk", flat=True)[:_DELETE_BATCH_SIZE])
    ):
        with transaction.atomic():
            doomed = Calculation.objects.filter(pk__in=batch)
            if finished_before is not None:
                doomed = doomed.filter(status__in=Calculation.FINAL_STATUSES)
            batch = list(doomed.values_list("pk", flat=True))
            CalculationOutput.objects.filter(calculation_id__in=batch).delete()
            Calculation.objects.filter(retry_of__in=batch).update(retry_of=None)
            removed = (
                Calculation.objects.filter(pk__in=batch).delete()[1].get(Calculation._meta.label, 0)
            )
        if not removed:
            break  # what is left in the range is not final: nothing more to delete
        deleted += removed
    return deleted
