"""The API served by a real web server, with a real worker, Redis and database behind it:
schemathesis fuzzes the live schema, concurrent retries share one Idempotency-Key, and the
long poll answers as soon as a calculation is final."""

import collections
import contextlib
import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from django.contrib.auth import get_user_model
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import positive_data_acceptance

from accounts import services as account_services
from calculations.models import Calculation
from tests.drills.conftest import DrillBroker, DrillStack

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

CONCURRENT_REQUESTS = 16
FUZZ_EXAMPLES = 60
# Generous: a prompt answer here takes tens of milliseconds; a missed wake-up, whole seconds.
WAIT_PROMPTNESS_BOUND_SECONDS = 3.0


@pytest.fixture(scope="module")
def live_stack(tmp_path_factory, django_db_setup, django_db_blocker) -> Iterator[DrillStack]:
    """The web server and beat of `make run`, and one worker for both queues, on a broker of
    their own; started once for the module."""
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
def api(live_stack: DrillStack) -> Iterator[httpx.Client]:
    """A client of the live server that calls as a program would, with an API token."""
    user = get_user_model().objects.create_user("program")
    token = account_services.api_token_create(user=user, name="live tests").secret
    with httpx.Client(
        base_url=live_stack.url, timeout=30, headers={"Authorization": f"Bearer {token}"}
    ) as client:
        yield client


def _shorten_waits(case) -> None:
    """Keep a valid ?wait= short: the fuzzer would otherwise wait up to 30 s per example."""
    with contextlib.suppress(KeyError, TypeError, ValueError):
        case.query["wait"] = min(float(case.query["wait"]), 0.2)


def _calculations_in_every_state(http: httpx.Client) -> list[str]:
    """Ids of calculations that are SUCCESS, CANCELLED and RUNNING (two of each)."""
    ids = []
    for _ in range(2):
        done = http.post("/api/calculations", json={"equation": "fibonacci", "n": 1000}).json()
        assert http.get(done["links"]["self"], params={"wait": 30}).json()["status"] == "SUCCESS"
        cancelled = http.post("/api/calculations", json={"equation": "nth_prime", "n": 10**8})
        http.post(f"{cancelled.headers['Location']}/cancel")
        running = http.post("/api/calculations", json={"equation": "nth_prime", "n": 3 * 10**8})
        ids += [done["id"], cancelled.json()["id"], running.json()["id"]]
    return ids


def test_live_api_conforms_to_its_schema_and_never_fails_with_a_server_error(live_stack, api):
    # One Hypothesis run per operation, driven here rather than by schemathesis.pytest's
    # fixture loader, which does not work with pytest 9.
    schema = schemathesis.openapi.from_url(f"{live_stack.url}/api/openapi.json")
    # DELETE last, so that the other operations find the known calculations still there.
    operations = sorted(
        (result.ok() for result in schema.get_all_operations()),
        key=lambda operation: operation.method.upper() == "DELETE",
    )
    # Random ids would only ever find nothing: half the cases name a real calculation.
    existing = _calculations_in_every_state(api)
    failures, statuses, answered = {}, collections.Counter(), collections.Counter()
    for operation in operations:

        @given(case=operation.as_strategy(), known=st.sampled_from([None, *existing]))
        @settings(
            max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck)
        )
        def conforms(case, known: str | None) -> None:
            _shorten_waits(case)
            if known and "calculation_id" in (case.path_parameters or {}):
                case.path_parameters["calculation_id"] = known
            # Rules a schema cannot state — each equation's bounds, a reused Idempotency-Key,
            # a cancel of a finished calculation — refuse some schema-valid requests (4xx).
            response = case.call_and_validate(
                headers={"Authorization": api.headers["Authorization"]},
                excluded_checks=[positive_data_acceptance],
            )
            statuses[response.status_code] += 1
            answered[case.operation.label] += 1

        try:
            conforms()
        except Exception as failure:  # Reported below, every operation's, not just the first.
            failures[f"{operation.method.upper()} {operation.path}"] = failure
    print(f"\nschemathesis: {len(operations)} operations, answers by status: {dict(statuses)}")

    assert len(operations) >= 8  # At least every endpoint of the README's table.
    assert set(answered) == {operation.label for operation in operations}
    assert 500 not in statuses
    assert not failures, "\n\n".join(f"{name}:\n{error}" for name, error in failures.items())


def test_concurrent_requests_with_one_idempotency_key_create_one_calculation(live_stack, api):
    key = f"concurrent-{uuid.uuid4()}"
    body = {"items": [{"equation": "fibonacci", "n": 1000}, {"equation": "factorial", "n": 50}]}
    start = threading.Barrier(CONCURRENT_REQUESTS)
    responses: list[httpx.Response] = []

    def send() -> None:
        with httpx.Client(base_url=live_stack.url, timeout=60, headers=api.headers) as http:
            start.wait()
            responses.append(
                http.post("/api/calculations", json=body, headers={"Idempotency-Key": key})
            )

    threads = [threading.Thread(target=send) for _ in range(CONCURRENT_REQUESTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [response.status_code for response in responses] == [202] * CONCURRENT_REQUESTS
    assert len({response.text for response in responses}) == 1
    ids = [item["id"] for item in responses[0].json()["items"]]
    assert sorted(str(pk) for pk in Calculation.objects.values_list("pk", flat=True)) == sorted(ids)


def test_long_poll_answers_promptly_when_the_calculation_finishes(api):
    http = api
    submitted = http.post("/api/calculations", json={"equation": "fibonacci", "n": 100_000})
    started = time.monotonic()
    final = http.get(submitted.headers["Location"], params={"wait": 30})
    elapsed = time.monotonic() - started
    print(f"\n?wait=30 answered {elapsed * 1000:.0f} ms after the submission")

    assert final.status_code == 200 and final.json()["status"] == "SUCCESS"
    assert final.json()["output_digits"] == 20_899
    assert elapsed < WAIT_PROMPTNESS_BOUND_SECONDS


def test_long_poll_gives_up_after_its_wait_while_the_calculation_runs(api):
    http = api
    submitted = http.post("/api/calculations", json={"equation": "nth_prime", "n": 300_000_000})
    started = time.monotonic()
    answer = http.get(submitted.headers["Location"], params={"wait": 1})
    elapsed = time.monotonic() - started
    http.post(f"{submitted.headers['Location']}/cancel")
    print(f"\n?wait=1 on a long calculation answered after {elapsed:.2f} s")

    assert answer.status_code == 200
    assert answer.json()["status"] in {"PENDING", "RUNNING"}
    assert 1.0 <= elapsed < 1.0 + WAIT_PROMPTNESS_BOUND_SECONDS
