import random

import gmpy2
import pytest

from equations.base import CalculationCancelled
from equations.decimal import LEAF_DIGITS, estimate_decimal_seconds, to_decimal
from tests.equations.conftest import RecordedProgress

TEN = gmpy2.mpz(10)


@pytest.mark.parametrize(
    "value",
    [
        gmpy2.mpz(0),
        gmpy2.mpz(7),
        TEN**LEAF_DIGITS - 1,
        TEN**LEAF_DIGITS,
        TEN**LEAF_DIGITS + 1,
        TEN ** (2 * LEAF_DIGITS) - 1,
        TEN ** (2 * LEAF_DIGITS),
        TEN ** (4 * LEAF_DIGITS) + 1,  # zeros across every chunk below the top
        TEN ** (5 * LEAF_DIGITS) + 12345,
        -(TEN ** (3 * LEAF_DIGITS) + 9),
    ],
    ids=lambda value: f"{len(value.digits())}-digits",
)
def test_to_decimal_matches_gmp_at_chunk_boundaries(value):
    assert to_decimal(value) == value.digits()


def test_to_decimal_matches_gmp_for_random_sizes():
    state = gmpy2.random_state(8)
    sizes = random.Random(8).sample(range(1, 1_500_000), 25)
    for bits in sizes:
        value = gmpy2.mpz_urandomb(state, bits)
        assert to_decimal(value) == value.digits(), bits


def test_to_decimal_reports_honest_progress(recorded):
    to_decimal(gmpy2.fib(3_000_000), recorded)
    recorded.assert_honest(min_calls=30)
    assert recorded.fractions[-1] > 0.9


def test_to_decimal_stops_when_progress_cancels():
    with pytest.raises(CalculationCancelled):
        to_decimal(gmpy2.fib(3_000_000), RecordedProgress(cancel_after=4))


def test_to_decimal_of_a_small_value_is_one_gmp_call_without_progress(recorded):
    assert to_decimal(TEN ** (LEAF_DIGITS - 1), recorded) == "1" + "0" * (LEAF_DIGITS - 1)
    assert recorded.fractions == []


def test_estimate_decimal_seconds_grows_faster_than_the_digit_count():
    assert estimate_decimal_seconds(2_000_000) > 10 * estimate_decimal_seconds(200_000) > 0
