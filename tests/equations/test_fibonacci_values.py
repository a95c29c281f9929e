import random
import sys

import gmpy2
import pytest

from equations import registry
from equations.fibonacci import fibonacci


def fibonacci_by_addition(n: int) -> int:
    """Independent reference: the definition, iterated."""
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


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
        (92, 7540113804746346429),
        (93, 12200160415121876738),
    ],
)
def test_fibonacci_known_values(n, expected):
    assert int(fibonacci(n)) == expected


def test_fibonacci_matches_the_definition_up_to_1500():
    a, b = 0, 1
    for n in range(1501):
        assert fibonacci(n) == a
        a, b = b, a + b


def test_fibonacci_satisfies_the_doubling_identities_for_large_random_n():
    rng = random.Random(20261124)
    for _ in range(20):
        n = rng.randrange(10_000, 2_000_000)
        f_n, f_n1 = fibonacci(n), fibonacci(n + 1)
        assert fibonacci(2 * n) == f_n * (2 * f_n1 - f_n)
        assert fibonacci(2 * n + 1) == f_n1 * f_n1 + f_n * f_n


def test_fibonacci_of_1000_has_209_digits_and_equals_the_definition():
    assert fibonacci(1000).digits() == str(fibonacci_by_addition(1000))
    assert len(fibonacci(1000).digits()) == 209


def test_fibonacci_of_100000_has_20899_exact_digits():
    expected = fibonacci_by_addition(100_000)
    old_limit = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        expected_digits = str(expected)
    finally:
        sys.set_int_max_str_digits(old_limit)
    assert fibonacci(100_000).digits() == expected_digits
    assert len(expected_digits) == 20_899


def test_fibonacci_digits_are_not_limited_like_python_int_to_str():
    value = fibonacci(20_578)  # The first F(n) with more than 4,300 digits.
    with pytest.raises(ValueError):
        str(int(value))
    assert len(value.digits()) == 4_301


def test_fibonacci_of_ten_million_has_2089877_digits():
    assert gmpy2.num_digits(fibonacci(10_000_000)) in (2_089_877, 2_089_878)
    assert len(fibonacci(10_000_000).digits()) == 2_089_877


def test_fibonacci_refuses_negative_n():
    with pytest.raises(ValueError, match="n >= 0"):
        fibonacci(-1)


def test_registry_finds_fibonacci_and_lists_known_names_on_a_miss():
    assert registry.get("fibonacci").compute is fibonacci
    assert "fibonacci" in [equation.key for equation in registry.all_equations()]
    with pytest.raises(registry.UnknownEquationError, match=r"known equations: .*fibonacci"):
        registry.get("fibonaci")


def test_registry_refuses_a_second_equation_under_the_same_key():
    from dataclasses import replace

    with pytest.raises(ValueError, match="registered twice"):
        registry.register(replace(registry.get("fibonacci"), label="impostor"))
