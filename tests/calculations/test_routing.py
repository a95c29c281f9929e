"""Queues and chunks: short work travels in chunks on its own queue, long work alone."""

from dataclasses import dataclass

import pytest

from calculations.routing import plan_messages
from equations import registry

LONG, SHORT = "calculations", "calculations.short"


@dataclass
class Row:
    pk: str
    equation: str
    n: int


def rows(equation: str, *inputs: int) -> list[Row]:
    return [Row(f"{equation}-{index}", equation, n) for index, n in enumerate(inputs)]


@pytest.fixture(autouse=True)
def routing(settings):
    settings.CALCQUEUE_SHORT_WORK_SECONDS = 0.05
    settings.CALCQUEUE_CHUNK_SIZE = 3


def test_plan_messages_chunks_short_work_up_to_the_chunk_size_in_order():
    messages = list(plan_messages(rows("fibonacci", 1, 2, 3, 4, 5, 6, 7)))
    assert [(m.queue, m.calculation_ids) for m in messages] == [
        (SHORT, ["fibonacci-0", "fibonacci-1", "fibonacci-2"]),
        (SHORT, ["fibonacci-3", "fibonacci-4", "fibonacci-5"]),
        (SHORT, ["fibonacci-6"]),
    ]
    assert all(m.is_chunk and m.equation == "fibonacci" for m in messages)


def test_plan_messages_sends_long_work_alone_to_the_long_queue():
    n = 10_000_000
    assert registry.get("fibonacci").estimate_seconds(n) >= 0.05
    messages = list(plan_messages(rows("fibonacci", 5, n, 6)))
    assert [(m.queue, m.calculation_ids, m.is_chunk) for m in messages] == [
        (LONG, ["fibonacci-1"], False),
        (SHORT, ["fibonacci-0", "fibonacci-2"], True),
    ]


def test_plan_messages_never_mixes_equations_in_a_chunk():
    messages = list(
        plan_messages([*rows("fibonacci", 1), *rows("factorial", 2), *rows("fibonacci", 3)])
    )
    assert [(m.equation, len(m.calculation_ids)) for m in messages] == [
        ("fibonacci", 1),
        ("factorial", 1),
        ("fibonacci", 1),
    ]


def test_plan_messages_closes_a_chunk_once_its_estimated_work_reaches_the_threshold(settings):
    settings.CALCQUEUE_CHUNK_SIZE = 100
    n = 2_000_000  # Each about 0.03 s by the estimate: two fill a chunk.
    seconds = registry.get("fibonacci").estimate_seconds(n)
    assert 0.025 < seconds < 0.05
    messages = list(plan_messages(rows("fibonacci", n, n, n, n, n)))
    assert [len(m.calculation_ids) for m in messages] == [2, 2, 1]


def test_plan_messages_of_nothing_is_nothing():
    assert list(plan_messages([])) == []
