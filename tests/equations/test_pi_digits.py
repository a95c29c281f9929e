import math

import gmpy2
import pytest

from equations import pi_digits as module
from equations import registry
from equations.base import CalculationCancelled
from equations.pi_digits import pi_digits
from tests.equations.conftest import RecordedProgress

# The first 50 decimal places of π.
PI_50 = "314159265358979323846264338327950288419716939937510"


def mpfr_pi(n: int) -> gmpy2.mpz:
    """⌊π·10ⁿ⌋ by MPFR's own constant (another algorithm), with 64 bits to spare."""
    with gmpy2.context(precision=int(n * math.log2(10)) + 64):
        return gmpy2.mpz(gmpy2.floor(gmpy2.const_pi() * gmpy2.mpz(10) ** n))


@pytest.mark.parametrize("n", range(0, 51))
def test_pi_digits_match_the_known_first_fifty_places(n):
    assert pi_digits(n).digits() == PI_50[: n + 1]


def test_pi_digits_keep_the_six_nines_of_the_feynman_point():
    # Decimal places 762 to 767 of π are all 9.
    assert pi_digits(767).digits()[-6:] == "999999"
    assert pi_digits(768).digits()[-7:] == "9999998"


@pytest.mark.parametrize("n", [100, 761, 1000, 10_000, 100_000])
def test_pi_digits_match_mpfr(n):
    assert pi_digits(n) == mpfr_pi(n)


def test_pi_digits_look_further_when_the_guard_digits_are_all_nines(monkeypatch):
    # With 6 guard digits, n = 761 ends just before the 9s: the floor needs more digits.
    monkeypatch.setattr(module, "GUARD_DIGITS", 6)
    digits_asked = []
    original = module._scaled_pi

    def recording(digits, progress):
        digits_asked.append(digits)
        return original(digits, progress)

    monkeypatch.setattr(module, "_scaled_pi", recording)
    assert pi_digits(761) == mpfr_pi(761)
    assert digits_asked == [767, 773]


def test_pi_digits_of_a_negative_count_is_refused():
    with pytest.raises(ValueError, match="n >= 0"):
        pi_digits(-1)


def test_pi_digits_report_honest_progress(recorded):
    pi_digits(200_000, recorded)
    recorded.assert_honest(min_calls=100)
    assert recorded.fractions[-1] > 0.8


def test_pi_digits_stop_when_progress_cancels():
    with pytest.raises(CalculationCancelled):
        pi_digits(200_000, RecordedProgress(cancel_after=5))


def test_pi_digits_are_registered():
    assert registry.get("pi_digits").compute is pi_digits
