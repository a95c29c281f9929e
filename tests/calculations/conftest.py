import pytest

from tests.calculations.factories import default_owner


@pytest.fixture
def client(client):
    """Signed in as the owner of the factory rows."""
    client.force_login(default_owner())
    return client
