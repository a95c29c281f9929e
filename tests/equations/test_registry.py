import dataclasses
from collections.abc import Iterator

import gmpy2
import pytest

from equations import registry
from equations.base import Equation
from equations.fibonacci import fibonacci


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


# --- Lookup, listing and registration ------------------------------------------------------

EQUATION_MODULES = ("factorial", "fibonacci", "nth_prime", "pi_digits")


def make_equation(key: str, **fields) -> Equation:
    return Equation(
        **(
            {
                "key": key,
                "label": f"test equation {key}",
                "description": "For the registry tests.",
                "compute": lambda n, progress: gmpy2.mpz(n),
                "default_max_n": 10,
                "estimate_seconds": lambda n: 1e-6,
                "estimate_digits": lambda n: len(str(n)),
            }
            | fields
        )
    )


@pytest.fixture
def temporary_keys() -> Iterator[list[str]]:
    """Keys registered by a test, removed from the registry afterwards."""
    keys: list[str] = []
    yield keys
    for key in keys:
        registry._equations.pop(key, None)


def test_registry_get_fibonacci_returns_the_fibonacci_equation():
    equation = registry.get("fibonacci")
    assert isinstance(equation, Equation)
    assert equation.key == "fibonacci"
    assert equation.compute is fibonacci
    assert equation.min_n == 0
    assert equation.default_max_n == 10_000_000


def test_registry_unknown_key_error_names_the_key_and_every_known_equation():
    with pytest.raises(registry.UnknownEquationError) as caught:
        registry.get("fibonnacci")
    message = str(caught.value)
    assert "'fibonnacci'" in message
    known = message.split("known equations: ", 1)[1]
    assert known.split(", ") == sorted(EQUATION_MODULES)


def test_registry_unknown_key_error_is_a_lookup_error():
    with pytest.raises(LookupError):
        registry.get("")


def test_registry_all_equations_are_sorted_by_key():
    keys = [equation.key for equation in registry.all_equations()]
    assert keys == sorted(keys)
    assert set(EQUATION_MODULES) <= set(keys)
    assert len(keys) == len(set(keys))


def test_registry_all_equations_lists_a_newly_registered_equation_in_sorted_place(
    temporary_keys,
):
    temporary_keys.append("aaa_test_first")
    registry.register(make_equation("aaa_test_first"))
    keys = [equation.key for equation in registry.all_equations()]
    assert keys[0] == "aaa_test_first"
    assert keys == sorted(keys)


def test_registry_register_returns_the_equation_and_get_finds_it(temporary_keys):
    equation = make_equation("test_registered")
    temporary_keys.append(equation.key)
    assert registry.register(equation) is equation
    assert registry.get("test_registered") is equation


def test_registry_register_of_the_same_object_twice_is_harmless(temporary_keys):
    equation = make_equation("test_same_twice")
    temporary_keys.append(equation.key)
    registry.register(equation)
    assert registry.register(equation) is equation
    assert registry.get("test_same_twice") is equation


def test_registry_register_twice_with_a_different_object_raises_and_keeps_the_first(
    temporary_keys,
):
    first = make_equation("test_twice")
    temporary_keys.append(first.key)
    registry.register(first)
    with pytest.raises(ValueError, match="'test_twice' is registered twice"):
        registry.register(make_equation("test_twice"))
    assert registry.get("test_twice") is first


def test_registry_refuses_a_look_alike_of_fibonacci():
    impostor = dataclasses.replace(registry.get("fibonacci"))
    assert impostor == registry.get("fibonacci")  # Equal, yet another object.
    with pytest.raises(ValueError, match="registered twice"):
        registry.register(impostor)
    assert registry.get("fibonacci").compute is fibonacci
