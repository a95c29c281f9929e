"""Every change to a calculation goes through these functions: views, admin, tasks call them."""

import logging
import time
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from calculations import validation
from calculations.models import Calculation, CalculationOutput
from calculations.output import summarise
from equations.base import no_progress

logger = logging.getLogger(__name__)

_DELETE_BATCH_SIZE = 1000


def calculations_submit(*, equation: str, inputs: Sequence[int]) -> list[Calculation]:
    """Create one PENDING calculation per input and enqueue them once the rows are committed.

    All or nothing: one invalid input raises ValidationError and creates nothing.
    """
    spec = validation.equation_for(equation)
    validation.validate_inputs(spec, inputs)
    now = timezone.now()
    # One microsecond apart, so that a batch lists in the order it was typed.
    calculations = [
        Calculation(equation=spec.key, n=n, created_at=now + timedelta(microseconds=index))
        for index, n in enumerate(inputs)
    ]
    with transaction.atomic():
        Calculation.objects.bulk_create(calculations)
        ids = [str(calculation.id) for calculation in calculations]
        # A worker must never receive an id whose row it cannot see yet.
        transaction.on_commit(lambda: _enqueue(ids), robust=True)
    return calculations


def _enqueue(calculation_ids: Sequence[str]) -> None:
    from calculations.tasks import run_calculation

    with run_calculation.app.producer_or_acquire() as producer:
        for calculation_id in calculation_ids:
            run_calculation.apply_async((calculation_id,), producer=producer)


def calculation_run(*, calculation_id: uuid.UUID | str, worker: str) -> None:
    """Claim a PENDING calculation, compute it and store its result or its error.

    Safe to call twice for the same id: only the caller whose conditional update moves the
    row from PENDING to RUNNING computes; any other delivery finds nothing to claim.
    """
    started_at = timezone.now()
    claimed = Calculation.objects.filter(
        pk=calculation_id, status=Calculation.Status.PENDING
    ).update(
        status=Calculation.Status.RUNNING,
        started_at=started_at,
        worker=worker,
        attempts=F("attempts") + 1,
    )
    if not claimed:
        logger.info(
            "calculation id=%s skipped: not pending (deleted or already claimed)", calculation_id
        )
        return
    calculation = Calculation.objects.get(pk=calculation_id)
    clock = time.perf_counter()
    try:
        spec = validation.equation_for(calculation.equation)
        decimal = spec.compute(calculation.n, no_progress).digits()
    except Exception as error:
        message = f"{type(error).__name__}: {error}"
        _finish(calculation, status=Calculation.Status.ERROR, error=message)
        logger.exception(
            "calculation id=%s equation=%s n=%d status=ERROR duration=%.3fs error=%s",
            calculation.id,
            calculation.equation,
            calculation.n,
            time.perf_counter() - clock,
            message,
        )
        return
    _finish(calculation, status=Calculation.Status.SUCCESS, decimal=decimal)
    logger.info(
        "calculation id=%s equation=%s n=%d status=SUCCESS duration=%.3fs digits=%d",
        calculation.id,
        calculation.equation,
        calculation.n,
        time.perf_counter() - clock,
        len(decimal),
    )


def _finish(
    calculation: Calculation,
    *,
    status: Calculation.Status,
    decimal: str | None = None,
    error: str = "",
) -> None:
    fields: dict = {"status": status, "finished_at": timezone.now(), "error": error}
    if decimal is not None:
        summary = summarise(decimal)
        fields |= {
            "output_digits": summary.digits,
            "output_head": summary.head,
            "output_tail": summary.tail,
        }
    with transaction.atomic():
        stored = Calculation.objects.filter(
            pk=calculation.pk, status=Calculation.Status.RUNNING, started_at=calculation.started_at
        ).update(**fields)
        if stored and decimal is not None:
            CalculationOutput.objects.update_or_create(
                calculation_id=calculation.pk, defaults={"digits": decimal}
            )


def calculations_delete(*, finished_before: datetime | None = None) -> int:
    """Delete every calculation, or only the finished ones older than `finished_before`.

    Deletes in batches so that a large table is never locked by one long transaction.
    """
    queryset = Calculation.objects.all()
    if finished_before is not None:
        queryset = queryset.filter(
            status__in=Calculation.FINAL_STATUSES, finished_at__lt=finished_before
        )
    deleted = 0
    while batch := list(queryset.values_list("pk", flat=True)[:_DELETE_BATCH_SIZE]):
        with transaction.atomic():
            CalculationOutput.objects.filter(calculation_id__in=batch).delete()
            deleted += (
                Calculation.objects.filter(pk__in=batch).delete()[1].get(Calculation._meta.label, 0)
            )
    return deleted
