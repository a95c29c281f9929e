from collections.abc import Iterator

import pytest

from equations import registry
from equations.base import Equation
from tests.calculations.factories import default_owner


@pytest.fixture
def client(client):
    """Signed in as the owner of the factory rows."""
    client.force_login(default_owner())
    return client


def temporary_equation(key: str, compute) -> Equation:
    return Equation(
        key=key,
        label=f"Test {key}",
        description="Registered by a unit test.",
        compute=compute,
        default_max_n=1000,
        estimate_seconds=lambda n: 1e-6,
        estimate_digits=lambda n: 1,
    )


@pytest.fixture
def register_equation() -> Iterator:
    """Register test equations for one test; they leave the registry afterwards."""
    keys: list[str] = []

    def register(key: str, compute) -> Equation:
        keys.append(key)
        return registry.register(temporary_equation(key, compute))

    yield register
    for key in keys:
        registry._equations.pop(key, None)
