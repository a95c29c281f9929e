import gmpy2
import pytest

from equations import registry
from equations.base import CalculationCancelled
from equations.nth_prime import SEGMENT_ODDS, approximate, nth_prime, upper_bound
from tests.equations.conftest import RecordedProgress

# p(10^k), OEIS A006988, and the first primes.
KNOWN = {
    1: 2,
    2: 3,
    3: 5,
    4: 7,
    5: 11,
    6: 13,
    10: 29,
    100: 541,
    1_000: 7_919,
    10_000: 104_729,
    100_000: 1_299_709,
    1_000_000: 15_485_863,
    10_000_000: 179_424_673,
}


@pytest.mark.parametrize(("n", "expected"), KNOWN.items())
def test_nth_prime_known_values(n, expected):
    assert nth_prime(n) == expected


def test_nth_prime_matches_gmp_next_prime_across_the_first_segment_boundary():
    boundary = 1 + 2 * SEGMENT_ODDS  # the first number of the second segment
    primes, p = [], gmpy2.mpz(2)
    while p < boundary + 200:
        primes.append(p)
        p = gmpy2.next_prime(p)
    last_in_first = max(i for i, q in enumerate(primes) if q < boundary)
    for index in range(last_in_first - 3, last_in_first + 5):
        assert nth_prime(index + 1) == primes[index]


def test_nth_prime_upper_bound_and_approximation_hold_for_known_values():
    for n, p in KNOWN.items():
        if n >= 6:
            assert p < upper_bound(n)
        if n >= 10_000:
            assert abs(approximate(n) - p) / p < 0.01


def test_nth_prime_below_one_is_refused():
    with pytest.raises(ValueError, match="n = 1"):
        nth_prime(0)


def test_nth_prime_reports_honest_progress(recorded):
    nth_prime(2_000_000, recorded)
    recorded.assert_honest(min_calls=10)
    assert recorded.fractions[-1] > 0.8


def test_nth_prime_stops_when_progress_cancels():
    with pytest.raises(CalculationCancelled):
        nth_prime(2_000_000, RecordedProgress(cancel_after=2))


def test_nth_prime_is_registered_from_one():
    equation = registry.get("nth_prime")
    assert (equation.compute, equation.min_n) == (nth_prime, 1)
