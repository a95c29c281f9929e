from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import gmpy2


class Progress(Protocol):
    """Told how far a computation has got, as a fraction from 0 to 1.

    Long computations call it regularly (cheap: the caller throttles what it records). It may
    raise `CalculationCancelled` to stop the computation where it stands.
    """

    def __call__(self, fraction_done: float) -> None: ...


class CalculationCancelled(Exception):
    """Raised through a computation by its progress callback when a cancel was requested."""


def no_progress(fraction_done: float) -> None:
    """A Progress that records nothing, for callers that do not follow progress."""


def scaled(progress: Progress, start: float, end: float) -> Progress:
    """A Progress for one phase of a computation, reported as the range [start, end]."""
    span = end - start
    return lambda fraction_done: progress(start + span * fraction_done)


@dataclass(frozen=True, kw_only=True)
class Equation:
    """One kind of calculation: what it is called, which inputs it takes, how to compute it.

    The estimates are rough models fitted on the development machine (`python -m
    bench.equations` prints them next to measured times); they route work and split progress
    between computing and decimal conversion, they never decide a result.
    """

    key: str
    label: str
    description: str
    compute: Callable[[int, Progress], gmpy2.mpz]
    default_max_n: int
    # Seconds the whole calculation of n takes on one idle core: computing and decimal conversion.
    estimate_seconds: Callable[[int], float]
    # About how many decimal digits the output of n has.
    estimate_digits: Callable[[int], int]
    min_n: int = 0
    # A faster way to the same value when nobody follows progress (short work), if a library
    # has one: progress reporting costs a few percent, which short work cannot hide.
    compute_unobserved: Callable[[int], gmpy2.mpz] | None = None
