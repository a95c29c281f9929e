"""Every read of calculations for display: bounded queries that never load whole outputs, each
of only what the caller may see."""

import base64
import binascii
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import Q, QuerySet
from django.db.models.functions import Substr
from django.utils import timezone

from accounts.callers import Caller
from calculations import events
from calculations.models import Calculation, CalculationOutput

OUTPUT_CHUNK_CHARS = 1 << 20


class InvalidCursorError(ValueError):
    pass


@dataclass(frozen=True)
class CalculationPage:
    calculations: list[Calculation]
    next_cursor: str | None

    @property
    def has_active(self) -> bool:
        return any(not calculation.is_final for calculation in self.calculations)


def _encode_cursor(calculation: Calculation) -> str:
    raw = f"{calculation.created_at.isoformat()}|{calculation.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created_at, calculation_id = raw.split("|")
        return datetime.fromisoformat(created_at), uuid.UUID(calculation_id)
    except (ValueError, binascii.Error, UnicodeDecodeError) as error:
        raise InvalidCursorError(f"invalid cursor {cursor!r}") from error


def calculations_visible(*, caller: Caller) -> QuerySet[Calculation]:
    """The calculations `caller` may see and act on: their own; staff, all of them. Anyone
    else's answer "does not exist", so that an id never tells whether it is taken."""
    if caller.is_staff:
        return Calculation.objects.all()
    if caller.is_signed_in:
        return Calculation.objects.filter(owner_id=caller.user_id)
    if caller.anonymous_key:
        return Calculation.objects.filter(owner__isnull=True, anonymous_key=caller.anonymous_key)
    return Calculation.objects.none()


def calculation_page(
    *,
    caller: Caller,
    after: str | None = None,
    size: int,
    status: str | None = None,
    equation: str | None = None,
) -> CalculationPage:
    """Newest first, `size` rows after the cursor (keyset pagination: no OFFSET, no COUNT),
    optionally of one status or one equation (each served by an index)."""
    queryset = calculations_visible(caller=caller).order_by("-created_at", "-id")
    if status:
        queryset = queryset.filter(status=status)
    if equation:
        queryset = queryset.filter(equation=equation)
    if after:
        created_at, calculation_id = _decode_cursor(after)
        queryset = queryset.filter(
            Q(created_at__lt=created_at) | Q(created_at=created_at, id__lt=calculation_id)
        )
    rows = list(queryset[: size + 1])
    next_cursor = _encode_cursor(rows[size - 1]) if len(rows) > size else None
    return CalculationPage(calculations=rows[:size], next_cursor=next_cursor)


def calculation_get(*, caller: Caller, calculation_id: uuid.UUID) -> Calculation:
    """Raises Calculation.DoesNotExist for an unknown id and for someone else's."""
    return calculations_visible(caller=caller).get(pk=calculation_id)


def calculation_wait(*, caller: Caller, calculation_id: uuid.UUID, timeout: float) -> Calculation:
    """The calculation as soon as it is final (announced by events.py), or as it is when
    `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    calculation = calculation_get(caller=caller, calculation_id=calculation_id)
    if calculation.is_final or timeout <= 0:
        return calculation
    # Subscribed first, then read again: a result stored in between is seen either way.
    with events.final_announcement(calculation_id) as announced:
        calculation = calculation_get(caller=caller, calculation_id=calculation_id)
        while not calculation.is_final and (remaining := deadline - time.monotonic()) > 0:
            announced(min(remaining, events.RECHECK_SECONDS))
            calculation = calculation_get(caller=caller, calculation_id=calculation_id)
    return calculation


def _outputs(caller: Caller, calculation_id: uuid.UUID) -> QuerySet[CalculationOutput]:
    # The visibility subquery names the one calculation: unbounded, it would list every
    # calculation the caller may see (seconds at a million rows on SQLite).
    visible = calculations_visible(caller=caller).filter(pk=calculation_id)
    return CalculationOutput.objects.filter(
        calculation_id=calculation_id, calculation__in=visible.values("pk")
    )


def calculation_output_head(*, caller: Caller, calculation_id: uuid.UUID, length: int) -> str:
    """The first `length` digits of the output, cut by the database."""
    return (
        _outputs(caller, calculation_id)
        .annotate(head=Substr("digits", 1, length))
        .values_list("head", flat=True)
        .get()
    )


def calculation_output_excerpt(
    *, caller: Caller, calculation_id: uuid.UUID, length: int, edge_chars: int
) -> tuple[str, str]:
    """The first and last `edge_chars` digits, cut by the database without reading the rest."""
    return (
        _outputs(caller, calculation_id)
        .annotate(
            head=Substr("digits", 1, edge_chars),
            tail=Substr("digits", max(length - edge_chars + 1, 1), edge_chars),
        )
        .values_list("head", "tail")
        .get()
    )


def calculation_output_chunks(
    *,
    caller: Caller,
    calculation_id: uuid.UUID,
    length: int,
    chunk_chars: int = OUTPUT_CHUNK_CHARS,
) -> Iterator[str]:
    """Yield the output's digits in order, one bounded chunk per query, for streaming."""
    for start in range(1, length + 1, chunk_chars):
        yield (
            _outputs(caller, calculation_id)
            .annotate(chunk=Substr("digits", start, chunk_chars))
            .values_list("chunk", flat=True)
            .get()
        )


# --- Backpressure ----------------------------------------------------------------------------


@dataclass(frozen=True)
class BackpressureStatus:
    """Whether new submissions are refused right now, and why (for the form, the API and the
    dashboard)."""

    active: bool
    unfinished: int
    max_unfinished: int  # 0: no bound
    oldest_pending_seconds: float | None
    max_wait_seconds: float  # 0: no bound
    retry_after: int

    @property
    def reason(self) -> str:
        if self.max_unfinished and self.unfinished >= self.max_unfinished:
            return f"{self.unfinished:,} calculations unfinished, bound {self.max_unfinished:,}"
        if self.active:
            waited, bound = self.oldest_pending_seconds, self.max_wait_seconds
            return (
                f"the oldest pending calculation has waited {waited:,.0f} s, bound {bound:,.0f} s"
            )
        return "accepting submissions"


def backpressure_status() -> BackpressureStatus:
    """Two indexed queries (status, created_at): the count of PENDING and RUNNING rows, which
    backpressure itself keeps near its bound, and the oldest PENDING row's age. A bound of 0
    is off, and its query is not made."""
    max_unfinished = settings.CALCQUEUE_BACKPRESSURE_MAX_UNFINISHED
    max_wait = settings.CALCQUEUE_BACKPRESSURE_MAX_WAIT_SECONDS
    unfinished = (
        Calculation.objects.filter(
            status__in=[Calculation.Status.PENDING, Calculation.Status.RUNNING]
        ).count()
        if max_unfinished
        else 0
    )
    oldest = (
        Calculation.objects.filter(status=Calculation.Status.PENDING)
        .order_by("created_at")
        .values_list("created_at", flat=True)
        .first()
        if max_wait
        else None
    )
    waited = (timezone.now() - oldest).total_seconds() if oldest else None
    active = bool(max_unfinished and unfinished >= max_unfinished) or bool(
        max_wait and waited is not None and waited > max_wait
    )
    return BackpressureStatus(
        active=active,
        unfinished=unfinished,
        max_unfinished=max_unfinished,
        oldest_pending_seconds=waited,
        max_wait_seconds=max_wait,
        retry_after=settings.CALCQUEUE_BACKPRESSURE_RETRY_AFTER_SECONDS,
    )
