"""The API served by a real web server, with a real worker, Redis and database behind it:
schemathesis fuzzes the live schema, concurrent retries share one Idempotency-Key, the
long poll answers as soon as a calculation is final, and the README's examples run as
written."""

import ast
import collections
import contextlib
import json
import math
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import gmpy2
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import positive_data_acceptance

from calculations.models import Calculation
from tests.conftest import BASE_DIR

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

CONCURRENT_REQUESTS = 16
FUZZ_EXAMPLES = 60
# Generous: a prompt answer here takes tens of milliseconds; a missed wake-up, whole seconds.
WAIT_PROMPTNESS_BOUND_SECONDS = 3.0
# Where the README's examples expect `make run`, and its placeholder for a token.
README_BASE_URL = "http://127.0.0.1:8000"
README_TOKEN = "TOKEN=cq_..."
CURL = Path("/usr/bin/curl")
EXAMPLE_TIMEOUT_SECONDS = 120


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


def _readme_examples(section: str = "JSON API") -> tuple[str, str]:
    """The shell block and the Python block of one README section, as written."""
    readme = (BASE_DIR / "README.md").read_text()
    match = re.search(rf"^## {re.escape(section)}\n(.*?)^## ", readme, re.MULTILINE | re.DOTALL)
    assert match, f"README has no section {section!r}"
    blocks = re.findall(r"^```(\w+)\n(.*?)^```$", match.group(1), re.MULTILINE | re.DOTALL)
    shell = [code for language, code in blocks if language == "sh"]
    python = [code for language, code in blocks if language == "python"]
    assert len(shell) == 1 and len(python) == 1, f"expected one sh and one python block: {blocks}"
    return shell[0], python[0]


def _json_documents(text: str) -> list:
    """The JSON bodies curl printed one after another (curl adds no newline between them)."""
    decoder, documents, position = json.JSONDecoder(), [], 0
    while position < len(text):
        if text[position].isspace():
            position += 1
            continue
        document, position = decoder.raw_decode(text, position)
        documents.append(document)
    return documents


def _preview(digits: str) -> str:
    """A list's `output`: whole up to 60 digits, else the first 24 (README "JSON API")."""
    return digits if len(digits) <= 60 else digits[:24]


def test_readme_curl_examples_run_as_written(live_stack, api, tmp_path):
    shell, _ = _readme_examples()
    token = api.headers["Authorization"].removeprefix("Bearer ")
    assert shell.count(README_TOKEN) == 1 and README_BASE_URL in shell
    script = shell.replace(README_TOKEN, f"TOKEN={token}").replace(README_BASE_URL, live_stack.url)
    ran = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        env={**os.environ, "PATH": f"{CURL.parent}:{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=EXAMPLE_TIMEOUT_SECONDS,
    )
    assert ran.returncode == 0, ran.stderr

    waited, batch, listed, anonymous, anonymous_list = _json_documents(ran.stdout)
    f39 = str(gmpy2.fib(39))
    assert (waited["equation"], waited["n"], waited["status"]) == ("fibonacci", 39, "SUCCESS")
    assert (waited["output"], waited["output_digits"]) == (f39, 8) == ("63245986", 8)
    assert (tmp_path / "digits.txt").read_text() == f39

    assert [(item["equation"], item["n"]) for item in batch["items"]] == [
        ("fibonacci", 1000),
        ("factorial", 100),
    ]
    # The two newest successes so far: the list is asked for right after the batch, which
    # may not have finished yet; F(39) has.
    expected = {
        ("fibonacci", 39): f39,
        ("fibonacci", 1000): str(gmpy2.fib(1000)),
        ("factorial", 100): str(math.factorial(100)),
    }
    assert len(listed["items"]) in (1, 2), listed
    if len(listed["items"]) == 1:
        assert listed["items"][0]["id"] == waited["id"]
    for item in listed["items"]:
        digits = expected[(item["equation"], item["n"])]
        assert item["status"] == "SUCCESS"
        assert (item["output"], item["output_digits"]) == (_preview(digits), len(digits))

    assert (anonymous["equation"], anonymous["n"]) == ("fibonacci", 39)
    assert anonymous["id"] != waited["id"]
    assert [item["id"] for item in anonymous_list["items"]] == [anonymous["id"]]
    # The anonymous visitor's calculation belongs to the cookie's session, not to the token.
    owned = Calculation.objects.get(pk=anonymous["id"])
    assert owned.owner_id is None and owned.anonymous_key


def test_readme_python_example_runs_as_written_and_is_safe_to_send_again(live_stack, api):
    _, python = _readme_examples()
    assert README_BASE_URL in python
    script = python.replace(README_BASE_URL, live_stack.url)
    token = api.headers["Authorization"].removeprefix("Bearer ")

    def run() -> str:
        ran = subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, "CALCQUEUE_TOKEN": token},
            capture_output=True,
            text=True,
            timeout=EXAMPLE_TIMEOUT_SECONDS,
        )
        assert ran.returncode == 0, ran.stderr
        return ran.stdout

    expected = "39 SUCCESS 63245986\n4 SUCCESS 3\n6 SUCCESS 8\n32 SUCCESS 2178309\n"
    assert expected == "".join(f"{n} SUCCESS {gmpy2.fib(n)}\n" for n in (39, 4, 6, 32))
    assert run() == expected
    created = set(Calculation.objects.values_list("pk", flat=True))
    assert len(created) == 4
    # The same Idempotency-Key: the same answer, and nothing new is created.
    assert run() == expected
    assert set(Calculation.objects.values_list("pk", flat=True)) == created


def test_readme_python_example_waits_longer_than_its_long_poll():
    """The example's client must outlast its ?wait: httpx's default timeout is 5 s, so any
    calculation longer than that would raise ReadTimeout (the live run above is too quick
    to show it)."""
    _, python = _readme_examples()
    calls = [node for node in ast.walk(ast.parse(python)) if isinstance(node, ast.Call)]

    def keyword(call: ast.Call, name: str):
        return next((k.value for k in call.keywords if k.arg == name), None)

    (client,) = [c for c in calls if ast.unparse(c.func) == "httpx.Client"]
    assert keyword(client, "timeout") is not None, "httpx.Client without a timeout waits 5 s"
    timeout = ast.literal_eval(keyword(client, "timeout"))
    waits = [
        ast.literal_eval(keyword(c, "params"))["wait"]
        for c in calls
        if keyword(c, "params") is not None
    ]
    assert waits and timeout > max(waits)
