import sys
from collections.abc import Callable, Iterator

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


# --- Values checked against references that share no code with the implementation ---------


def fibonacci_iterative(n: int) -> int:
    """Independent reference: the definition F(k+1) = F(k) + F(k-1), with Python ints."""
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


def fibonacci_fast_doubling(n: int) -> int:
    """Independent reference: (F(k), F(k+1)) by fast doubling with Python ints.

    F(2k) = F(k)·(2F(k+1) − F(k)),  F(2k+1) = F(k)² + F(k+1)²
    """

    def pair(k: int) -> tuple[int, int]:
        if k == 0:
            return 0, 1
        a, b = pair(k >> 1)
        even = a * (2 * b - a)
        odd = a * a + b * b
        return (odd, even + odd) if k & 1 else (even, odd)

    return pair(n)[0]


LIMIT_AT_IMPORT = sys.get_int_max_str_digits()


@pytest.fixture
def int_max_str_digits() -> Iterator[Callable[[int], None]]:
    """Set Python's int->str digit limit for one test only; the old limit comes back after."""
    old_limit = sys.get_int_max_str_digits()
    yield sys.set_int_max_str_digits
    sys.set_int_max_str_digits(old_limit)


def test_reference_implementations_agree_with_each_other_on_small_n():
    assert [fibonacci_iterative(n) for n in range(300)] == [
        fibonacci_fast_doubling(n) for n in range(300)
    ]


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (0, 0),
        (1, 1),
        (2, 1),
        (4, 3),
        (6, 8),
        (32, 2178309),
        (39, 63245986),
        (93, 12200160415121876738),
        (94, 19740274219868223167),
    ],
)
def test_fibonacci_value_is_the_published_one(n, expected):
    assert int(fibonacci(n)) == expected


def test_fibonacci_of_93_exceeds_a_signed_64_bit_integer_and_94_an_unsigned_one():
    assert int(fibonacci(93)) > 2**63 - 1
    assert int(fibonacci(94)) > 2**64 - 1


def test_fibonacci_returns_an_mpz_for_every_index():
    for n in (0, 1, 2, 3, 1000):
        assert isinstance(fibonacci(n), type(gmpy2.mpz(0)))


def test_fibonacci_equals_the_iterative_reference_for_n_0_to_1500():
    mismatches = [n for n in range(1501) if fibonacci(n) != fibonacci_iterative(n)]
    assert mismatches == []


def test_fibonacci_of_1000_has_209_digits():
    digits = fibonacci(1000).digits()
    assert len(digits) == 209
    assert digits == str(fibonacci_iterative(1000))


def test_fibonacci_of_100000_has_20899_digits_equal_to_fast_doubling(int_max_str_digits):
    digits = fibonacci(100_000).digits()
    int_max_str_digits(0)
    expected = str(fibonacci_fast_doubling(100_000))
    assert len(digits) == 20_899
    assert digits == expected


def test_fibonacci_of_20578_has_more_digits_than_python_converts_but_gmpy2_does(
    int_max_str_digits,
):
    int_max_str_digits(4300)  # Python's default limit on int -> str conversion.
    value = fibonacci(20_578)
    with pytest.raises(ValueError, match="4300"):
        str(int(value))
    digits = value.digits()
    assert len(digits) > 4300
    int_max_str_digits(0)
    assert digits == str(fibonacci_fast_doubling(20_578))


def test_int_max_str_digits_fixture_restored_the_limit_after_the_previous_tests():
    # Runs after the tests that raised the limit (file order): they must not leak it.
    assert sys.get_int_max_str_digits() == LIMIT_AT_IMPORT


@pytest.mark.parametrize("n", [-1, -2, -1000])
def test_fibonacci_of_negative_n_raises_value_error(n):
    with pytest.raises(ValueError, match=str(n)):
        fibonacci(n)
