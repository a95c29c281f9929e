"""The n-th prime p(n), p(1) = 2, by a segmented sieve of Eratosthenes over odd numbers.

Segments of 2^20 odd numbers are crossed off by the primes up to √p(n), counted with
bytearray.count, and progress is reported after each one. On the development machine
p(10⁸) = 2,038,074,743 takes about 6 s and p(3·10⁸) about 25 s, in a few megabytes of memory
whatever n is; p(10⁹) takes over two minutes, hence the default bound.
"""

import bisect
import math

import gmpy2

from equations.base import Equation, Progress, no_progress
from equations.registry import register
from equations.sieve import odd_primes_up_to
from equations.work import WorkMeter

SEGMENT_ODDS = 1 << 20
_SMALL = [2, 3, 5, 7, 11]
# Work of one segment in units of one crossing-off prime, fitted to the segment timings of
# p(10⁸): the fixed part (clearing and counting a megabyte, the dense small primes) weighs
# about as much as 3,300 sieving primes. A unit takes about 1.1 µs in whole runs of p(10⁷)
# and p(10⁸).
_SEGMENT_FIXED_WORK = 3300
_SECONDS_PER_WORK = 1.1e-6


def upper_bound(n: int) -> int:
    """p(n) < n(ln n + ln ln n) for n >= 6 (Rosser 1941)."""
    log_n = math.log(n)
    return int(n * (log_n + math.log(log_n))) + 1


def approximate(n: int) -> float:
    """Cipolla's asymptotic p(n) ≈ n(ln n + ln ln n − 1 + (ln ln n − 2)/ln n), within 0.1%
    for large n: where the sieve is expected to stop, for progress."""
    log_n = math.log(n)
    log_log_n = math.log(log_n)
    return n * (log_n + log_log_n - 1 + (log_log_n - 2) / log_n)


def _first_index(p: int, low: int) -> int:
    """Index in the segment of odd numbers from `low` of the first odd multiple of p to cross
    off: p² or later, since smaller multiples have a smaller prime factor."""
    first = max(p * p, -(-low // p) * p)
    if not first & 1:
        first += p
    return (first - low) // 2


def nth_prime(n: int, progress: Progress = no_progress) -> gmpy2.mpz:
    """Return the n-th prime, counting 2 as the first."""
    if n < 1:
        raise ValueError(f"primes are counted from n = 1 (the prime 2), not {n}")
    if n <= len(_SMALL):
        return gmpy2.mpz(_SMALL[n - 1])
    sieving = odd_primes_up_to(math.isqrt(upper_bound(n)))
    expected_end = approximate(n)

    def segment_work(low: int) -> int:
        return _SEGMENT_FIXED_WORK + bisect.bisect_left(sieving, math.isqrt(low + 2 * SEGMENT_ODDS))

    meter = WorkMeter(
        progress, sum(segment_work(low) for low in range(1, int(expected_end), 2 * SEGMENT_ODDS))
    )
    zeros = memoryview(bytes(SEGMENT_ODDS))
    found = 1  # the prime 2
    low = 1  # the segment holds the odd numbers low, low + 2, ..., low + 2·(SEGMENT_ODDS − 1)
    while True:
        high = low + 2 * SEGMENT_ODDS
        is_prime = bytearray([1]) * SEGMENT_ODDS
        if low == 1:
            is_prime[0] = 0  # 1
        for p in sieving:
            if p * p >= high:
                break
            start = _first_index(p, low)
            if start < SEGMENT_ODDS:
                is_prime[start::p] = zeros[: (SEGMENT_ODDS - 1 - start) // p + 1]
        in_segment = is_prime.count(1)
        if found + in_segment >= n:
            index = -1
            for _ in range(n - found):
                index = is_prime.index(1, index + 1)
            return gmpy2.mpz(low + 2 * index)
        found += in_segment
        meter.advance(segment_work(low))
        low = high


def estimate_digits(n: int) -> int:
    return len(str(int(approximate(max(n, 6)))))


def estimate_seconds(n: int) -> float:
    """The segments up to p(n), each crossed off by about (4/3)·√p/ln p primes on average
    (π(√x) ≈ 2√x/ln x, averaged over the range)."""
    end = approximate(max(n, 6))
    average_sieving_primes = 4 / 3 * math.sqrt(end) / math.log(end)
    segments = max(end / (2 * SEGMENT_ODDS), 1.0)
    return _SECONDS_PER_WORK * segments * (_SEGMENT_FIXED_WORK + average_sieving_primes)


EQUATION = register(
    Equation(
        key="nth_prime",
        label="The n-th prime p(n)",
        description="The n-th prime number, counting p(1) = 2, p(2) = 3, p(3) = 5.",
        compute=nth_prime,
        default_max_n=300_000_000,
        estimate_seconds=estimate_seconds,
        estimate_digits=estimate_digits,
        min_n=1,
    )
)
