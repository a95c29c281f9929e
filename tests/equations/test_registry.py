import pytest

from equations import registry


def test_registry_discovers_every_equation_module_and_no_infrastructure():
    assert [equation.key for equation in registry.all_equations()] == [
        "factorial",
        "fibonacci",
        "nth_prime",
        "pi_digits",
    ]


def test_registry_get_of_an_unknown_key_lists_the_known_ones():
    with pytest.raises(registry.UnknownEquationError, match="known equations: factorial, fib"):
        registry.get("nope")


@pytest.mark.parametrize("equation", registry.all_equations(), ids=lambda equation: equation.key)
def test_every_equation_estimates_grow_with_n(equation):
    small, large = max(equation.min_n, 1_000), equation.default_max_n
    assert 0 < equation.estimate_seconds(small) < equation.estimate_seconds(large)
    assert 0 < equation.estimate_digits(small) <= equation.estimate_digits(large)
