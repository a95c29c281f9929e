"""n! by Luschny's prime swing, the algorithm of GMP's own mpz_fac_ui, written with gmpy2
operations so that it reports progress and can be cancelled between multiplications.

n! = 2^(n - popcount(n)) · oddfac(n), oddfac(m) = oddfac(⌊m/2⌋)² · swing(m), where the odd
part of the swing m!/(⌊m/2⌋!)² is a product of odd prime powers read off the digits of m in
base p. About 1.2× gmpy2.fac's time for large n, and the decimal conversion that follows costs
several times more than either (`python -m bench.equations`).
"""

import bisect
import math

import gmpy2

from equations.base import Equation, Progress, no_progress
from equations.decimal import estimate_decimal_seconds
from equations.registry import register
from equations.sieve import odd_primes_up_to
from equations.work import WorkMeter, multiplication_work, product, product_work

LN10 = math.log(10)
# Weights fitted to timings of 5,000,000!: the sieve and the factor lists per unit of n, and
# the lopsided multiplication by the swing relative to the model (a squaring fits it as is).
_SIEVE_WORK_PER_N = 220
_SWING_MULTIPLICATION_WEIGHT = 1.3


def _odd_swing_factors(m: int, primes: list[int]) -> list[int]:
    """The odd prime powers whose product is the odd part of m!/(⌊m/2⌋!)²."""
    root = math.isqrt(m)
    factors = []
    for p in primes[: bisect.bisect_right(primes, root)]:
        power, quotient = 1, m
        while quotient := quotient // p:
            if quotient & 1:
                power *= p
        if power > 1:
            factors.append(power)
    # Above √m the exponent of p is ⌊m/p⌋ mod 2: 1 on (m/2, m], 0 on (m/3, m/2].
    third, half = bisect.bisect_right(primes, m // 3), bisect.bisect_right(primes, m // 2)
    middle = primes[bisect.bisect_right(primes, root) : third]
    factors.extend(p for p in middle if (m // p) & 1)
    factors.extend(primes[half : bisect.bisect_right(primes, m)])
    return factors


def factorial(n: int, progress: Progress = no_progress) -> gmpy2.mpz:
    """Return n! exactly."""
    if n < 0:
        raise ValueError(f"n! is defined here for n >= 0, not {n}")
    primes = odd_primes_up_to(n)
    levels = []  # the swings' factors for m = n, ⌊n/2⌋, ⌊n/4⌋, ... while they have any
    m = n
    while m >= 3:
        levels.append(_odd_swing_factors(m, primes))
        m //= 2
    levels.reverse()

    total, odd_bits = _SIEVE_WORK_PER_N * n, 0.0
    for factors in levels:
        swing_bits = math.fsum(map(math.log2, factors))
        total += product_work(factors)
        total += multiplication_work(2 * odd_bits)
        odd_bits = 2 * odd_bits + swing_bits
        total += _SWING_MULTIPLICATION_WEIGHT * multiplication_work(odd_bits)
    meter = WorkMeter(progress, total)
    meter.advance(_SIEVE_WORK_PER_N * n)

    odd = gmpy2.mpz(1)
    for factors in levels:
        swing = product(factors, meter)
        odd = odd * odd
        meter.advance(multiplication_work(odd.bit_length()))
        odd *= swing
        meter.advance(_SWING_MULTIPLICATION_WEIGHT * multiplication_work(odd.bit_length()))
    return odd << (n - n.bit_count())


def estimate_digits(n: int) -> int:
    return int(math.lgamma(n + 1) / LN10) + 1


def estimate_seconds(n: int) -> float:
    return 2.15e-8 * n**1.15 + estimate_decimal_seconds(estimate_digits(n))


EQUATION = register(
    Equation(
        key="factorial",
        label="Factorial n!",
        description="n! = 1 × 2 × … × n, exact (0! = 1).",
        compute=factorial,
        compute_unobserved=gmpy2.fac,
        default_max_n=3_000_000,
        estimate_seconds=estimate_seconds,
        estimate_digits=estimate_digits,
    )
)
