"""Progress as the fraction of planned work done, for computations built of big multiplications.

The work of a step is modelled from the size of what it produces, not from the clock: a bar
that follows work done is honest, and a cancel takes effect between two steps.
"""

import math
from collections.abc import Sequence

import gmpy2

from equations.base import Progress

# Small factors are multiplied in runs this long (by math.prod, in C) before the balanced tree
# starts: products of a few dozen words gain nothing from balancing (64 measured 5% faster
# than 16 for 10⁶! and 3·10⁶!).
LEAF_FACTORS = 64


def multiplication_work(bits: float) -> float:
    """The cost model of producing a `bits`-bit product: about n log n, as in GMP's FFT range.

    Squarings and divisions differ by constant factors that callers weight where it matters.
    """
    return bits * math.log2(bits + 2)


class WorkMeter:
    """Reports the fraction of `total` units of work done after every step."""

    def __init__(self, progress: Progress, total: float) -> None:
        self._progress = progress
        self._total = max(total, 1.0)
        self._done = 0.0

    def advance(self, work: float) -> None:
        self._done += work
        self._progress(min(self._done / self._total, 1.0))


def product_work(factors: Sequence[int]) -> float:
    """The work `product(factors, meter)` will report, planned as if the factors were alike:
    every level of the tree produces about the whole product's size in bits."""
    if not factors:
        return 0.0
    total_bits = math.fsum(map(math.log2, factors))
    work, nodes = 0.0, math.ceil(len(factors) / LEAF_FACTORS)
    while True:
        work += nodes * multiplication_work(total_bits / nodes)
        if nodes == 1:
            return work
        nodes = (nodes + 1) // 2


def product(factors: Sequence[int], meter: WorkMeter) -> gmpy2.mpz:
    """Multiply the factors in a balanced tree (operands of equal size keep GMP fast)."""
    level = []
    for start in range(0, len(factors), LEAF_FACTORS):
        partial = gmpy2.mpz(math.prod(factors[start : start + LEAF_FACTORS]))
        meter.advance(multiplication_work(partial.bit_length()))
        level.append(partial)
    if not level:
        return gmpy2.mpz(1)
    while len(level) > 1:
        merged = []
        for left, right in zip(level[::2], level[1::2], strict=False):
            merged.append(left * right)
            meter.advance(multiplication_work(merged[-1].bit_length()))
        level = merged + level[len(merged) * 2 :]
    return level[0]
