import dataclasses

import gmpy2
import pytest

from equations import registry
from equations.base import CalculationCancelled
from equations.decimal import estimate_decimal_seconds
from equations.evaluation import evaluate
from tests.equations.conftest import RecordedProgress


@pytest.mark.parametrize(
    ("key", "n", "expected"),
    [
        ("fibonacci", 100, "354224848179261915075"),
        ("factorial", 20, "2432902008176640000"),
        ("nth_prime", 1000, "7919"),
        ("pi_digits", 10, "31415926535"),
    ],
)
def test_evaluate_returns_the_exact_decimal_digits(key, n, expected):
    assert evaluate(registry.get(key), n) == expected


def test_evaluate_reports_computing_then_conversion_in_order(recorded):
    digits = evaluate(registry.get("fibonacci"), 2_000_000, recorded)
    assert digits == gmpy2.fib(2_000_000).digits()
    recorded.assert_honest(min_calls=30)
    assert recorded.fractions[-1] > 0.9


def test_evaluate_gives_conversion_the_share_the_estimates_predict(recorded):
    fibonacci = registry.get("fibonacci")
    # An equation whose computing is estimated as long as its conversion.
    half = dataclasses.replace(
        fibonacci,
        estimate_seconds=lambda n: 2 * estimate_decimal_seconds(fibonacci.estimate_digits(n)),
    )
    evaluate(half, 2_000_000, recorded)
    computing = [fraction for fraction in recorded.fractions if fraction <= 0.5 + 1e-9]
    assert computing[-1] == pytest.approx(0.5)
    assert recorded.fractions[-1] > 0.9


def test_evaluate_stops_in_the_conversion_when_progress_cancels():
    fibonacci = registry.get("fibonacci")
    progress = RecordedProgress(cancel_after=40)
    with pytest.raises(CalculationCancelled):
        evaluate(fibonacci, 2_000_000, progress)
    assert len(progress.fractions) == 40


@pytest.mark.parametrize(
    ("key", "n"),
    [
        ("fibonacci", 200_000),
        ("factorial", 20_000),
        ("nth_prime", 1_000_000),
        ("pi_digits", 20_000),
    ],
)
def test_evaluate_without_progress_gives_the_digits_of_the_observed_computation(key, n):
    equation = registry.get(key)
    followed = []
    assert evaluate(equation, n) == evaluate(equation, n, followed.append)
    assert followed, "the observed computation reported no progress"
