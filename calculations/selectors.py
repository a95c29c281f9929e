"""Every read of calculations for display: bounded queries that never load whole outputs."""

import base64
import binascii
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q
from django.db.models.functions import Substr

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


def calculation_page(
    *,
    after: str | None = None,
    size: int,
    status: str | None = None,
    equation: str | None = None,
) -> CalculationPage:
    """Newest first, `size` rows after the cursor (keyset pagination: no OFFSET, no COUNT),
    optionally of one status or one equation (each served by an index)."""
    queryset = Calculation.objects.order_by("-created_at", "-id")
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


def calculation_get(*, calculation_id: uuid.UUID) -> Calculation:
    return Calculation.objects.get(pk=calculation_id)


def calculation_wait(
    *, calculation_id: uuid.UUID, timeout: float, poll: float = 0.05
) -> Calculation:
    """The calculation as soon as it is final, or as it is when `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    calculation = calculation_get(calculation_id=calculation_id)
    while not calculation.is_final and time.monotonic() < deadline:
        time.sleep(min(poll, max(deadline - time.monotonic(), 0)))
        calculation = calculation_get(calculation_id=calculation_id)
    return calculation


def calculation_output_head(*, calculation_id: uuid.UUID, length: int) -> str:
    """The first `length` digits of the output, cut by the database."""
    return (
        CalculationOutput.objects.filter(calculation_id=calculation_id)
        .annotate(head=Substr("digits", 1, length))
        .values_list("head", flat=True)
        .get()
    )


def calculation_output_excerpt(
    *, calculation_id: uuid.UUID, length: int, edge_chars: int
) -> tuple[str, str]:
    """The first and last `edge_chars` digits, cut by the database without reading the rest."""
    return (
        CalculationOutput.objects.filter(calculation_id=calculation_id)
        .annotate(
            head=Substr("digits", 1, edge_chars),
            tail=Substr("digits", max(length - edge_chars + 1, 1), edge_chars),
        )
        .values_list("head", "tail")
        .get()
    )


def calculation_output_chunks(
    *, calculation_id: uuid.UUID, length: int, chunk_chars: int = OUTPUT_CHUNK_CHARS
) -> Iterator[str]:
    """Yield the output's digits in order, one bounded chunk per query, for streaming."""
    for start in range(1, length + 1, chunk_chars):
        yield (
            CalculationOutput.objects.filter(calculation_id=calculation_id)
            .annotate(chunk=Substr("digits", start, chunk_chars))
            .values_list("chunk", flat=True)
            .get()
        )
