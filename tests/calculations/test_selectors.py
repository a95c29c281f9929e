"""calculations.selectors: keyset pages, output excerpts and chunks."""

import base64
import math
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from calculations import selectors
from calculations.models import Calculation, CalculationOutput
from tests.calculations.factories import make_calculation, make_success, owner_caller, random_digits

pytestmark = pytest.mark.django_db
S = Calculation.Status


def make_rows(count: int) -> list[Calculation]:
    """`count` calculations created one second apart, oldest first."""
    start = timezone.now() - timedelta(hours=1)
    return [make_calculation(n=i, created_at=start + timedelta(seconds=i)) for i in range(count)]


def ns(page: selectors.CalculationPage) -> list[int]:
    return [calculation.n for calculation in page.calculations]


def test_calculation_page_walks_three_pages_newest_first():
    make_rows(5)
    first = selectors.calculation_page(caller=owner_caller(), size=2)
    assert ns(first) == [4, 3]
    assert first.next_cursor is not None

    second = selectors.calculation_page(caller=owner_caller(), after=first.next_cursor, size=2)
    assert ns(second) == [2, 1]
    assert second.next_cursor is not None

    third = selectors.calculation_page(caller=owner_caller(), after=second.next_cursor, size=2)
    assert ns(third) == [0]
    assert third.next_cursor is None


def test_calculation_page_full_last_page_has_no_next_cursor():
    make_rows(4)
    first = selectors.calculation_page(caller=owner_caller(), size=2)
    second = selectors.calculation_page(caller=owner_caller(), after=first.next_cursor, size=2)
    assert ns(second) == [1, 0]
    assert second.next_cursor is None


def test_calculation_page_of_an_empty_table_is_empty():
    page = selectors.calculation_page(caller=owner_caller(), size=2)
    assert page.calculations == []
    assert page.next_cursor is None


def test_calculation_page_breaks_created_at_ties_by_id_without_skipping_or_repeating():
    same_time = timezone.now()
    ids = [make_calculation(n=i, created_at=same_time).pk for i in range(3)]
    seen, cursor = [], None
    for _ in range(3):
        page = selectors.calculation_page(caller=owner_caller(), after=cursor, size=1)
        seen += [calculation.pk for calculation in page.calculations]
        cursor = page.next_cursor
    assert seen == sorted(ids, reverse=True)
    assert cursor is None


def test_calculation_page_is_not_disturbed_by_rows_added_after_the_first_page():
    make_rows(4)
    first = selectors.calculation_page(caller=owner_caller(), size=2)
    make_calculation(n=99)  # Newest of all: belongs before the first page, not in the second.
    second = selectors.calculation_page(caller=owner_caller(), after=first.next_cursor, size=2)
    assert ns(second) == [1, 0]


def test_calculation_page_has_active_when_any_row_is_pending_or_running():
    make_rows(1)
    assert selectors.calculation_page(caller=owner_caller(), size=10).has_active
    Calculation.objects.update(status=S.RUNNING)
    assert selectors.calculation_page(caller=owner_caller(), size=10).has_active
    for final in (S.SUCCESS, S.ERROR, S.CANCELLED):
        Calculation.objects.update(status=final)
        assert not selectors.calculation_page(caller=owner_caller(), size=10).has_active


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!!",
        "a",
        b64("no separator"),
        b64("2024-01-01T00:00:00+00:00|not-a-uuid"),
        b64(f"not-a-date|{uuid.uuid4()}"),
        b64(f"2024-01-01T00:00:00+00:00|{uuid.uuid4()}|extra"),
        base64.urlsafe_b64encode(b"\xff\xfe\xfd").decode(),
    ],
)
def test_calculation_page_with_an_invalid_cursor_raises_invalid_cursor_error(cursor):
    make_rows(1)
    with pytest.raises(selectors.InvalidCursorError):
        selectors.calculation_page(caller=owner_caller(), after=cursor, size=2)


def test_invalid_cursor_error_is_a_value_error():
    assert issubclass(selectors.InvalidCursorError, ValueError)


def test_calculation_get_returns_the_row_or_raises_does_not_exist():
    calculation = make_calculation()
    assert (
        selectors.calculation_get(caller=owner_caller(), calculation_id=calculation.pk)
        == calculation
    )
    with pytest.raises(Calculation.DoesNotExist):
        selectors.calculation_get(caller=owner_caller(), calculation_id=uuid.uuid4())


def test_calculation_output_excerpt_returns_the_first_and_last_digits():
    digits = random_digits(1000)
    calculation = make_success(digits)
    head, tail = selectors.calculation_output_excerpt(
        caller=owner_caller(), calculation_id=calculation.pk, length=len(digits), edge_chars=7
    )
    assert (head, tail) == (digits[:7], digits[-7:])


def test_calculation_output_excerpt_with_edges_as_long_as_the_output_returns_it_whole():
    digits = random_digits(50)
    calculation = make_success(digits)
    assert selectors.calculation_output_excerpt(
        caller=owner_caller(), calculation_id=calculation.pk, length=50, edge_chars=50
    ) == (digits, digits)


def test_calculation_output_excerpt_without_output_raises_does_not_exist():
    calculation = make_calculation()
    with pytest.raises(CalculationOutput.DoesNotExist):
        selectors.calculation_output_excerpt(
            caller=owner_caller(), calculation_id=calculation.pk, length=5, edge_chars=2
        )


@pytest.mark.parametrize(("length", "chunk_chars"), [(100, 7), (98, 7), (5, 7), (1, 1), (64, 8)])
def test_calculation_output_chunks_concatenate_to_the_exact_digits(length, chunk_chars):
    digits = random_digits(length, seed=length)
    calculation = make_success(digits)
    chunks = list(
        selectors.calculation_output_chunks(
            caller=owner_caller(),
            calculation_id=calculation.pk,
            length=length,
            chunk_chars=chunk_chars,
        )
    )
    assert "".join(chunks) == digits
    assert len(chunks) == math.ceil(length / chunk_chars)
    assert all(len(chunk) == chunk_chars for chunk in chunks[:-1])
    assert 1 <= len(chunks[-1]) <= chunk_chars


def _sqlite_steps(function) -> int:
    """SQLite virtual-machine steps (in thousands) taken while `function` runs: the work of
    its queries, counted like instructions rather than timed."""
    from django.db import connection

    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0  # 0: go on

    connection.ensure_connection()
    connection.connection.set_progress_handler(count, 1000)
    try:
        function()
    finally:
        connection.connection.set_progress_handler(None, 1000)
    return steps


def test_output_reads_do_not_grow_with_the_callers_other_calculations():
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("counts SQLite's virtual-machine steps")
    digits = random_digits(500)
    calculation = make_success(digits)

    def read_output() -> None:
        selectors.calculation_output_excerpt(
            caller=owner_caller(), calculation_id=calculation.pk, length=500, edge_chars=20
        )
        list(
            selectors.calculation_output_chunks(
                caller=owner_caller(), calculation_id=calculation.pk, length=500, chunk_chars=100
            )
        )

    alone = _sqlite_steps(read_output)
    owner = calculation.owner
    Calculation.objects.bulk_create(
        Calculation(equation="fibonacci", n=n, owner=owner) for n in range(20_000)
    )
    among_many = _sqlite_steps(read_output)
    assert among_many <= alone + 5, f"{alone}k steps alone, {among_many}k among 20,000 others"
