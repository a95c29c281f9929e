from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx
import pytest
from django.contrib.auth import get_user_model

from accounts import services as account_services
from calculations import services

if TYPE_CHECKING:
    from tests.drills.conftest import DrillStack


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


@pytest.fixture(scope="module")
def live_stack(tmp_path_factory, django_db_setup, django_db_blocker) -> Iterator["DrillStack"]:
    """The web server and beat of `make run`, and one worker for both queues, on a broker of
    their own; started once for each module that uses it."""
    # Imported here: the unit tests of this package need none of the drills' machinery.
    from tests.drills.conftest import DrillBroker, DrillStack

    directory = tmp_path_factory.mktemp("live-api")
    broker = DrillBroker(directory / "redis")
    broker.start()
    with django_db_blocker.unblock():
        stack = DrillStack(broker, directory, extra_env={})
        try:
            stack.start()
            stack.start_worker(concurrency=2)
            yield stack
        finally:
            stack.stop()
            broker.stop()


@pytest.fixture
def api(live_stack: "DrillStack") -> Iterator[httpx.Client]:
    """A client of the live server that calls as a program would, with an API token."""
    user = get_user_model().objects.create_user("program")
    token = account_services.api_token_create(user=user, name="live tests").secret
    with httpx.Client(
        base_url=live_stack.url, timeout=30, headers={"Authorization": f"Bearer {token}"}
    ) as client:
        yield client
