"""Speed of the progress-reporting equations against GMP's and MPFR's own functions, the
accuracy of the cost estimates, and how evenly the progress bar moves.

    python -m bench.equations            # about two minutes on the development machine
    python -m bench.equations --quick    # smaller inputs, a few seconds

Every figure is the best of a few runs on an idle machine; ratios above 1 mean slower.
"""

import argparse
import math
import time
from collections.abc import Callable

import gmpy2

from equations import registry
from equations.base import no_progress
from equations.decimal import to_decimal
from equations.evaluation import evaluate


def best_seconds(repeats: int, function: Callable, *args) -> tuple[object, float]:
    best, result = math.inf, None
    for _ in range(repeats):
        started = time.perf_counter()
        result = function(*args)
        best = min(best, time.perf_counter() - started)
    return result, best


def mpfr_pi(n: int) -> gmpy2.mpz:
    gmpy2.free_cache()  # MPFR keeps the last π it computed; time a fresh one
    with gmpy2.context(precision=int(n * math.log2(10)) + 64):
        return gmpy2.mpz(gmpy2.floor(gmpy2.const_pi() * gmpy2.mpz(10) ** n))


BUILTINS = {
    "fibonacci": ("gmpy2.fib", gmpy2.fib),
    "factorial": ("gmpy2.fac", gmpy2.fac),
    "pi_digits": ("MPFR const_pi", mpfr_pi),
}

SIZES = {
    "fibonacci": [10**6, 10**7, 10**8],
    "factorial": [10**5, 10**6, 3 * 10**6],
    "pi_digits": [10**5, 10**6, 10**7],
    "nth_prime": [10**6, 10**7, 10**8],
}
QUICK_SIZES = {
    "fibonacci": [10**6, 10**7],
    "factorial": [10**5, 10**6],
    "pi_digits": [10**5, 10**6],
    "nth_prime": [10**6, 10**7],
}


def progress_evenness(key: str, n: int) -> tuple[float, float]:
    """Run the whole calculation as a worker does and return (seconds, the largest gap
    between the fraction reported and the fraction of time elapsed when it was reported)."""
    reports: list[tuple[float, float]] = []
    started = time.perf_counter()
    evaluate(registry.get(key), n, lambda fraction: reports.append((time.perf_counter(), fraction)))
    elapsed = time.perf_counter() - started
    gaps = [abs(fraction - (at - started) / elapsed) for at, fraction in reports]
    return elapsed, max(gaps, default=1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller inputs")
    quick = parser.parse_args().quick
    print(
        f"{'equation':<10} {'n':>11} {'builtin':>14} {'builtin s':>10} {'ours s':>8} {'ratio':>6}"
        f" {'.digits() s':>11} {'to_decimal s':>12} {'ratio':>6}"
        f" {'total s':>8} {'estimate s':>10} {'bar gap':>7}"
    )
    for key, sizes in (QUICK_SIZES if quick else SIZES).items():
        equation = registry.get(key)
        for n in sizes:
            repeats = 3 if n <= 10**6 else 1
            ours, ours_seconds = best_seconds(repeats, equation.compute, n, no_progress)
            name, builtin_seconds = "-", math.nan
            if key in BUILTINS:
                name, builtin = BUILTINS[key]
                theirs, builtin_seconds = best_seconds(repeats, builtin, n)
                assert theirs == ours, f"{key}({n}) differs from {name}"
            digits, gmp_decimal = best_seconds(repeats, ours.digits)
            converted, our_decimal = best_seconds(repeats, to_decimal, ours)
            assert converted == digits
            total, gap = progress_evenness(key, n)
            print(
                f"{key:<10} {n:>11,} {name:>14} {builtin_seconds:>10.3f} {ours_seconds:>8.3f}"
                f" {ours_seconds / builtin_seconds:>6.2f} {gmp_decimal:>11.3f}"
                f" {our_decimal:>12.3f} {our_decimal / gmp_decimal:>6.2f} {total:>8.3f}"
                f" {equation.estimate_seconds(n):>10.3f} {gap:>7.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
