"""calculations.validation: bounds per equation, batch size, unknown equations."""

import pytest
from django.core.exceptions import ValidationError

from calculations import validation
from equations import registry


@pytest.fixture
def fib():
    return registry.get("fibonacci")


def refusal(equation, inputs) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        validation.validate_inputs(equation, inputs, signed_in=True)
    return caught.value


def test_equation_for_returns_the_registered_equation():
    assert validation.equation_for("fibonacci") is registry.get("fibonacci")


def test_equation_for_an_unknown_key_raises_validation_error_listing_known_ones():
    with pytest.raises(ValidationError) as caught:
        validation.equation_for("fib")
    assert caught.value.code == "unknown_equation"
    (message,) = caught.value.messages
    assert "'fib'" in message
    assert "fibonacci" in message and "factorial" in message


def test_max_n_for_fibonacci_defaults_to_ten_million(fib, settings):
    settings.CALCQUEUE_MAX_N = {}
    assert validation.max_n_for(fib, signed_in=True) == 10_000_000


def test_max_n_for_follows_the_setting(fib, settings):
    settings.CALCQUEUE_MAX_N = {"fibonacci": 20_000_000}
    assert validation.max_n_for(fib, signed_in=True) == 20_000_000


def test_max_n_setting_of_another_equation_does_not_change_fibonacci(fib, settings):
    settings.CALCQUEUE_MAX_N = {"factorial": 5}
    assert validation.max_n_for(fib, signed_in=True) == 10_000_000


@pytest.mark.parametrize("inputs", [[0], [10_000_000], [0, 1, 2, 9_999_999, 10_000_000]])
def test_validate_inputs_accepts_the_default_bounds(fib, settings, inputs):
    settings.CALCQUEUE_MAX_N = {}
    validation.validate_inputs(fib, inputs, signed_in=True)


def test_validate_inputs_refuses_one_above_the_default_bound(fib, settings):
    settings.CALCQUEUE_MAX_N = {}
    error = refusal(fib, [4, 10_000_001])
    assert error.code == "out_of_range"
    assert error.messages == [
        "Fibonacci number F(n) takes n from 0 to 10,000,000; out of range: 10000001."
    ]


def test_validate_inputs_refuses_a_negative_number_given_directly(fib):
    # The parser refuses signs; a caller passing ints directly is still held to the bounds.
    assert "out of range: -1." in refusal(fib, [-1]).messages[0]


def test_validate_inputs_lists_five_bad_inputs_then_an_ellipsis(fib, settings):
    settings.CALCQUEUE_MAX_N = {"fibonacci": 10}
    (message,) = refusal(fib, [5, 11, 12, 13, 14, 15, 16]).messages
    assert message.endswith("out of range: 11, 12, 13, 14, 15, ....")
    assert "16" not in message


def test_validate_inputs_honours_a_lower_configured_bound(fib, settings):
    settings.CALCQUEUE_MAX_N = {"fibonacci": 50}
    validation.validate_inputs(fib, [50], signed_in=True)
    assert refusal(fib, [51]).messages == [
        "Fibonacci number F(n) takes n from 0 to 50; out of range: 51."
    ]


def test_validate_inputs_honours_a_higher_configured_bound(fib, settings):
    settings.CALCQUEUE_MAX_N = {"fibonacci": 20_000_000}
    validation.validate_inputs(fib, [20_000_000], signed_in=True)
    assert refusal(fib, [20_000_001]).code == "out_of_range"


def test_validate_inputs_respects_an_equations_minimum(settings):
    nth_prime = registry.get("nth_prime")
    assert nth_prime.min_n == 1
    validation.validate_inputs(nth_prime, [1], signed_in=True)
    assert refusal(nth_prime, [0]).code == "out_of_range"


def test_max_batch_setting_defaults_to_100(settings):
    assert settings.CALCQUEUE_MAX_BATCH == 100


def test_validate_inputs_accepts_100_numbers_and_refuses_101(fib, settings):
    settings.CALCQUEUE_MAX_BATCH = 100
    validation.validate_inputs(fib, [1] * 100, signed_in=True)
    error = refusal(fib, [1] * 101)
    assert error.code == "too_many"
    assert error.messages == ["At most 100 numbers at once; you entered 101."]


def test_validate_inputs_follows_the_batch_setting(fib, settings):
    settings.CALCQUEUE_MAX_BATCH = 3
    validation.validate_inputs(fib, [1, 2, 3], signed_in=True)
    assert refusal(fib, [1, 2, 3, 4]).messages == ["At most 3 numbers at once; you entered 4."]


def test_validate_inputs_checks_the_batch_size_before_the_bounds(fib, settings):
    settings.CALCQUEUE_MAX_BATCH = 2
    assert refusal(fib, [1, 2, 10**9]).code == "too_many"


def test_validate_inputs_refuses_an_empty_list(fib):
    error = refusal(fib, [])
    assert error.code == "empty"
    assert error.messages == ["Enter at least one number."]
