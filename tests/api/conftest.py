import pytest

from calculations import services


@pytest.fixture
def enqueued(monkeypatch) -> list[list[str]]:
    """One list of calculation ids per call of services._enqueue (no broker in unit tests)."""
    calls: list[list[str]] = []
    monkeypatch.setattr(
        services, "_enqueue", lambda calculations: calls.append([str(c.pk) for c in calculations])
    )
    return calls


@pytest.fixture
def client(client):
    """Signed in (session) as the owner of the factory rows."""
    from tests.calculations.factories import default_owner

    client.force_login(default_owner())
    return client
