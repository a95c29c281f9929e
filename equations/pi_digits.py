"""π to n decimal places as one exact integer, ⌊π·10ⁿ⌋ (n = 2 gives 314), by the Chudnovsky
series summed with binary splitting in gmpy2 integers:

    1/π = 12 Σ (−1)^k (6k)! (13591409 + 545140134k) / ((3k)! (k!)³ 640320^(3k+3/2))

About twice as fast as MPFR's const_pi at the same precision (`python -m bench.equations`).
The last digits are proven, not hoped for: the integer result is within 2 units of π·10^(n+g)
for g guard digits, so unless the guard digits are all 0s or all 9s (then g grows and the
sum is redone) the floor is exact.
"""

import math

import gmpy2

from equations.base import Equation, Progress, no_progress, scaled
from equations.decimal import estimate_decimal_seconds
from equations.registry import register
from equations.work import WorkMeter, multiplication_work

DIGITS_PER_TERM = math.log10(640320**3 / (24 * 6 * 2 * 6))  # about 14.18
_C3_OVER_24 = 640320**3 // 24
_A, _B = 13591409, 545140134
GUARD_DIGITS = 20
# Error of the scaled integer result, in units of its last digit: the floor of the square
# root and of the final division, each below one unit, with room to spare.
_MAX_ERROR = 4
_LOG2_C3_OVER_24 = math.log2(_C3_OVER_24)
# Terms summed by one Python-level recursion before the progress-reporting tree takes over.
_TERMS_PER_LEAF = 32
# A merge of (P, Q, T) triples is four multiplications; a term in a leaf, mostly Python
# overhead, costs about as much as 23,000 units of multiplication work (fitted at 10⁶ digits).
_MERGE_MULTIPLICATIONS = 4
_LEAF_WORK_PER_TERM = 23_000
# Shares of the time, measured at 10⁶ and 10⁷ digits: the series, then the square root of
# 10005, then the final multiplication and division.
_SERIES_SHARE, _SQRT_SHARE = 0.76, 0.09


def _split(a: int, b: int) -> tuple[gmpy2.mpz, gmpy2.mpz, gmpy2.mpz]:
    """(P, Q, T) of the terms a ≤ k < b, by recursive binary splitting."""
    if b - a == 1:
        if a == 0:
            p = q = gmpy2.mpz(1)
        else:
            p = gmpy2.mpz((6 * a - 5) * (2 * a - 1) * (6 * a - 1))
            q = gmpy2.mpz(a * a * a * _C3_OVER_24)
        t = p * (_A + _B * a)
        return p, q, -t if a & 1 else t
    middle = (a + b) // 2
    p1, q1, t1 = _split(a, middle)
    p2, q2, t2 = _split(middle, b)
    return p1 * p2, q1 * q2, q2 * t1 + p1 * t2


def _leaf_bits(start: int, stop: int) -> float:
    """About the size of Q (the largest of P, Q, T) for the terms start ≤ k < stop."""
    middle = max((start + stop) / 2, 1.0)
    return (stop - start) * (3 * math.log2(middle) + _LOG2_C3_OVER_24)


def _series(terms: int, progress: Progress) -> tuple[gmpy2.mpz, gmpy2.mpz]:
    """(Q, T) of the first `terms` terms: leaves by recursion, then pairs level by level so
    that each merge is a step of known size."""
    starts = range(0, terms, _TERMS_PER_LEAF)
    sizes = [_leaf_bits(start, min(start + _TERMS_PER_LEAF, terms)) for start in starts]
    total = terms * _LEAF_WORK_PER_TERM
    while len(sizes) > 1:
        merged = [left + right for left, right in zip(sizes[::2], sizes[1::2], strict=False)]
        total += sum(_MERGE_MULTIPLICATIONS * multiplication_work(size) for size in merged)
        sizes = merged + sizes[len(merged) * 2 :]
    meter = WorkMeter(progress, total)
    level = []
    for start in starts:
        stop = min(start + _TERMS_PER_LEAF, terms)
        level.append(_split(start, stop))
        meter.advance((stop - start) * _LEAF_WORK_PER_TERM)
    while len(level) > 1:
        merged = []
        for (p1, q1, t1), (p2, q2, t2) in zip(level[::2], level[1::2], strict=False):
            merged.append((p1 * p2, q1 * q2, q2 * t1 + p1 * t2))
            work = multiplication_work(max(part.bit_length() for part in merged[-1]))
            meter.advance(_MERGE_MULTIPLICATIONS * work)
        level = merged + level[len(merged) * 2 :]
    _, q, t = level[0]
    return q, t


def _scaled_pi(digits: int, progress: Progress) -> gmpy2.mpz:
    """An integer within _MAX_ERROR of π·10^digits."""
    q, t = _series(int(digits / DIGITS_PER_TERM) + 2, scaled(progress, 0.0, _SERIES_SHARE))
    one = gmpy2.mpz(10) ** digits
    sqrt_10005 = gmpy2.isqrt(10005 * one * one)
    progress(_SERIES_SHARE + _SQRT_SHARE)
    return (q * 426880 * sqrt_10005) // t


def pi_digits(n: int, progress: Progress = no_progress) -> gmpy2.mpz:
    """Return ⌊π·10ⁿ⌋: the digits of π to n decimal places, without the point."""
    if n < 0:
        raise ValueError(f"π is given here to n >= 0 decimal places, not {n}")
    guard = GUARD_DIGITS
    while True:
        approximation = _scaled_pi(n + guard, progress)
        truncated, rest = gmpy2.t_divmod(approximation, gmpy2.mpz(10) ** guard)
        if _MAX_ERROR <= rest < 10**guard - _MAX_ERROR:
            return truncated
        # A run of 0s or 9s (odds about 10^-19): the floor could go either way, so look
        # further; the progress bar starts again, as the work does.
        guard *= 2


def estimate_digits(n: int) -> int:
    return n + 1


def estimate_seconds(n: int) -> float:
    return 1.91e-8 * n**1.231 + estimate_decimal_seconds(estimate_digits(n))


EQUATION = register(
    Equation(
        key="pi_digits",
        label="π to n decimal places",
        description="⌊π·10ⁿ⌋, the digits of π to n decimal places without the point: 3, 31, 314, …",
        compute=pi_digits,
        default_max_n=10_000_000,
        estimate_seconds=estimate_seconds,
        estimate_digits=estimate_digits,
    )
)
