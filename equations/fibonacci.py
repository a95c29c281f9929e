"""F(n) by the doubling formulas of GMP's mpz_fib_ui, written with gmpy2 operations so that
it reports progress and can be cancelled between steps: within 5% of gmpy2.fib's time
(`python -m bench.equations`). Each step doubles the index with two squarings:

    F(2k+1) = 4·F(k)² − F(k−1)² + 2·(−1)^k,   F(2k−1) = F(k)² + F(k−1)²,   F(2k) = F(2k+1) − F(2k−1)

and the last step needs F(n) alone, which takes one multiplication.
"""

import math

import gmpy2

from equations.base import Equation, Progress, no_progress
from equations.decimal import estimate_decimal_seconds
from equations.registry import register
from equations.work import WorkMeter, multiplication_work

LOG2_PHI = math.log2((1 + math.sqrt(5)) / 2)
LOG10_PHI = math.log10((1 + math.sqrt(5)) / 2)
# A squaring costs about 0.55 of the multiplication of the same result size (fitted to the
# step timings of F(10⁸)).
_SQUARING_WEIGHT = 0.55


def _bits(index: int) -> float:
    return max(index * LOG2_PHI, 1.0)


def fibonacci(n: int, progress: Progress = no_progress) -> gmpy2.mpz:
    """Return F(n), with F(0) = 0 and F(1) = F(2) = 1."""
    if n < 0:
        raise ValueError(f"Fibonacci numbers are defined here for n >= 0, not {n}")
    if n < 2:
        return gmpy2.mpz(n)
    # Indices reached after each step: the leading bits of n.
    indices = [n >> shift for shift in range(n.bit_length() - 2, -1, -1)]
    meter = WorkMeter(
        progress,
        sum(2 * _SQUARING_WEIGHT * multiplication_work(_bits(index)) for index in indices[:-1])
        + multiplication_work(_bits(n)),
    )
    k, f_k, f_k_minus_1 = 1, gmpy2.mpz(1), gmpy2.mpz(0)
    for index in indices[:-1]:
        square, previous_square = f_k * f_k, f_k_minus_1 * f_k_minus_1
        f_2k_plus_1 = 4 * square - previous_square + (-2 if k & 1 else 2)
        f_2k_minus_1 = square + previous_square
        f_2k = f_2k_plus_1 - f_2k_minus_1
        if index & 1:
            f_k, f_k_minus_1 = f_2k_plus_1, f_2k
        else:
            f_k, f_k_minus_1 = f_2k, f_2k_minus_1
        k = index
        meter.advance(2 * _SQUARING_WEIGHT * multiplication_work(_bits(index)))
    if n & 1:
        # F(2k+1) = (2F(k) + F(k−1))·(2F(k) − F(k−1)) + 2·(−1)^k
        result = (2 * f_k + f_k_minus_1) * (2 * f_k - f_k_minus_1) + (-2 if k & 1 else 2)
    else:
        # F(2k) = F(k)·(F(k) + 2F(k−1))
        result = f_k * (f_k + 2 * f_k_minus_1)
    meter.advance(multiplication_work(_bits(n)))
    return result


def estimate_digits(n: int) -> int:
    return int(n * LOG10_PHI) + 1


def estimate_seconds(n: int) -> float:
    return 1.59e-10 * n**1.185 + estimate_decimal_seconds(estimate_digits(n))


EQUATION = register(
    Equation(
        key="fibonacci",
        label="Fibonacci number F(n)",
        description="The n-th Fibonacci number, exact: F(0) = 0, F(1) = F(2) = 1.",
        compute=fibonacci,
        compute_unobserved=gmpy2.fib,
        default_max_n=10_000_000,
        estimate_seconds=estimate_seconds,
        estimate_digits=estimate_digits,
    )
)
