import math

import gmpy2
import pytest

from equations import registry
from equations.base import CalculationCancelled
from equations.factorial import estimate_digits, factorial
from tests.equations.conftest import RecordedProgress

KNOWN = {
    0: 1,
    1: 1,
    2: 2,
    5: 120,
    10: 3628800,
    20: 2432902008176640000,
    25: 15511210043330985984000000,
}


@pytest.mark.parametrize(("n", "expected"), KNOWN.items())
def test_factorial_known_values(n, expected):
    assert factorial(n) == expected


@pytest.mark.parametrize("n", [*range(0, 200), 1000, 4096, 4097, 65536, 99_991])
def test_factorial_matches_python_math_factorial(n):
    assert factorial(n) == math.factorial(n)


def test_factorial_of_a_million_has_the_known_digit_count_and_trailing_zeros():
    digits = factorial(10**6).digits()
    assert len(digits) == 5_565_709  # OEIS A027869
    # Legendre: the number of factors 5 in 10⁶!, ⌊n/5⌋ + ⌊n/25⌋ + ...
    assert len(digits) - len(digits.rstrip("0")) == 249_998
    assert factorial(10**6) == gmpy2.fac(10**6)


def test_factorial_of_a_negative_number_is_refused():
    with pytest.raises(ValueError, match="n >= 0"):
        factorial(-1)


def test_factorial_reports_honest_progress(recorded):
    factorial(200_000, recorded)
    recorded.assert_honest(min_calls=100)
    assert recorded.fractions[-1] > 0.9


def test_factorial_stops_when_progress_cancels():
    with pytest.raises(CalculationCancelled):
        factorial(200_000, RecordedProgress(cancel_after=10))


def test_factorial_digit_estimate_is_exact_or_one_off():
    for n in (10, 1000, 100_000):
        assert abs(estimate_digits(n) - len(gmpy2.mpz(math.factorial(n)).digits())) <= 1


def test_factorial_is_registered():
    assert registry.get("factorial").compute is factorial
