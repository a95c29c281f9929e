import gmpy2
import pytest

from equations import registry
from equations.base import CalculationCancelled
from equations.fibonacci import estimate_digits, fibonacci
from tests.equations.conftest import RecordedProgress

# Independently known values (OEIS A000045).
KNOWN = {
    0: 0,
    1: 1,
    2: 1,
    3: 2,
    10: 55,
    20: 6765,
    39: 63245986,
    50: 12586269025,
    100: 354224848179261915075,
}


@pytest.mark.parametrize(("n", "expected"), KNOWN.items())
def test_fibonacci_known_values(n, expected):
    assert fibonacci(n) == expected


@pytest.mark.parametrize("n", [*range(0, 130), 1023, 1024, 1025, 65535, 65536, 10**6 + 1])
def test_fibonacci_matches_gmp_mpz_fib_ui(n):
    assert fibonacci(n) == gmpy2.fib(n)


def test_fibonacci_satisfies_cassini_identity_for_a_large_index():
    n = 300_001
    assert fibonacci(n - 1) * fibonacci(n + 1) - fibonacci(n) ** 2 == (-1) ** n


def test_fibonacci_of_a_negative_index_is_refused():
    with pytest.raises(ValueError, match="n >= 0"):
        fibonacci(-1)


def test_fibonacci_reports_honest_progress(recorded):
    fibonacci(10**6, recorded)
    recorded.assert_honest(min_calls=15)
    assert recorded.fractions[-1] == pytest.approx(1.0)


def test_fibonacci_stops_when_progress_cancels():
    with pytest.raises(CalculationCancelled):
        fibonacci(10**6, RecordedProgress(cancel_after=3))


def test_fibonacci_digit_estimate_is_exact_or_one_off():
    for n in (10, 1000, 10**6):
        assert abs(estimate_digits(n) - len(gmpy2.fib(n).digits())) <= 1


def test_fibonacci_is_registered():
    assert registry.get("fibonacci").compute is fibonacci
