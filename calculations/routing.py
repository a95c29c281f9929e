"""Which queue a calculation goes to, and how many travel in one message.

Each equation estimates its cost from its input. Work estimated below a threshold is short:
it goes to its own queue, served by its own worker processes, so that it never waits behind
long work, and it travels in chunks (one message, one claim, one write for many calculations)
because at a few microseconds of maths per calculation the cost of a message per calculation
would be the whole cost. Long work travels one calculation per message, so that each has its
own time limits, progress and cancellation.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.conf import settings

from equations import registry


@dataclass(frozen=True)
class Message:
    queue: str
    calculation_ids: list[str]
    equation: str  # The equation whose time limits apply; a chunk holds one equation.

    @property
    def is_chunk(self) -> bool:
        return self.queue == settings.CALCQUEUE_SHORT_QUEUE


def plan_messages(calculations: Iterable) -> Iterator[Message]:
    """Group calculations (objects with pk, equation and n) into messages, keeping their order.

    A chunk closes when it holds CALCQUEUE_CHUNK_SIZE calculations or its estimated work
    reaches CALCQUEUE_SHORT_WORK_SECONDS, so that no chunk holds up its queue for long.
    """
    chunk_ids: list[str] = []
    chunk_equation = ""
    chunk_seconds = 0.0

    def close_chunk() -> Message:
        nonlocal chunk_ids, chunk_seconds
        message = Message(settings.CALCQUEUE_SHORT_QUEUE, chunk_ids, chunk_equation)
        chunk_ids, chunk_seconds = [], 0.0
        return message

    for calculation in calculations:
        seconds = registry.get(calculation.equation).estimate_seconds(calculation.n)
        if seconds >= settings.CALCQUEUE_SHORT_WORK_SECONDS:
            yield Message(
                settings.CALCQUEUE_LONG_QUEUE, [str(calculation.pk)], calculation.equation
            )
            continue
        if chunk_ids and calculation.equation != chunk_equation:
            yield close_chunk()
        chunk_equation = calculation.equation
        chunk_ids.append(str(calculation.pk))
        chunk_seconds += seconds
        if (
            len(chunk_ids) >= settings.CALCQUEUE_CHUNK_SIZE
            or chunk_seconds >= settings.CALCQUEUE_SHORT_WORK_SECONDS
        ):
            yield close_chunk()
    if chunk_ids:
        yield close_chunk()
