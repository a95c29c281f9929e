"""Malformed API submissions, as raw bodies: each gets a 4xx problem naming what is wrong,
never a 500, and nothing is created or queued."""

import pytest

from calculations.models import Calculation

pytestmark = pytest.mark.django_db

BOUND = 10_000_000  # The default bound of fibonacci.
BAD_N = [
    "-1",
    "-0.0",
    "1.5",
    "1.0",
    "1e6",
    '"39"',
    '"５"',
    '" 5 "',
    '"0x10"',
    '"1_000"',
    "true",
    "false",
    "null",
    "[]",
    "[5]",
    "{}",
    '{"n": 5}',
    str(BOUND + 1),
    str(2**63),
    str(2**64 + 1),
    "9" * 5000,
    "-" + "9" * 50,
]
# Below or above each equation's own bounds (the defaults).
OUT_OF_BOUNDS = [
    ("factorial", -1),
    ("factorial", 3_000_001),
    ("nth_prime", 0),
    ("nth_prime", 300_000_001),
    ("pi_digits", -1),
    ("pi_digits", 10_000_001),
]
BAD_BODIES = [
    *[f'{{"equation": "fibonacci", "n": {n}}}' for n in BAD_N],
    *[f'{{"equation": "factorial", "n": {n}}}' for n in BAD_N],
    *[f'{{"equation": "{key}", "n": {n}}}' for key, n in OUT_OF_BOUNDS],
    *[
        f'{{"items": [{{"equation": "fibonacci", "n": 4}}, {{"equation": "fibonacci", "n": {n}}}]}}'
        for n in BAD_N
    ],
    '{"equation": "fibonacci"}',
    '{"n": 5}',
    '{"equation": "nope", "n": 5}',
    '{"equation": "", "n": 5}',
    '{"equation": "FIBONACCI", "n": 5}',
    '{"equation": "fibonacci\\u0000", "n": 5}',
    '{"equation": 5, "n": 5}',
    '{"equation": null, "n": 5}',
    '{"equation": "' + "x" * 100_000 + '", "n": 5}',
    '{"equation": "fibonacci", "n": 5, "extra": 1}',
    '{"items": []}',
    '{"items": null}',
    '{"items": [5]}',
    '{"items": "fibonacci"}',
    '{"items": [{"equation": "fibonacci", "n": 4}], "n": 5}',
    "",
    " ",
    "null",
    "[]",
    "5",
    '"fibonacci"',
    "{",
    '{"equation": "fibonacci", "n": 5',
    '{"equation": "fibonacci", "n": NaN}',
    '{"equation": "fibonacci", "n": Infinity}',
    "{'equation': 'fibonacci', 'n': 5}",
    '{"equation": "fibonacci", "n": 5}{"equation": "fibonacci", "n": 6}',
    "\x00",
    "\ufeff{}",
]


def test_api_bad_input_table_has_at_least_a_hundred_distinct_cases():
    assert len(set(BAD_BODIES)) >= 100


@pytest.mark.parametrize("body", BAD_BODIES, ids=lambda body: repr(body)[:50])
def test_api_bad_input_is_refused_with_a_problem_and_nothing_created(client, enqueued, body):
    response = client.post("/api/calculations", body, content_type="application/json")

    assert 400 <= response.status_code < 500
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == response.status_code
    assert len(problem["detail"]) > 10
    assert Calculation.objects.count() == 0
    assert enqueued == []


@pytest.mark.parametrize("body", ['{"equation": "fibonacci", "n": 1.5}', '{"items": [{"n": -1}]}'])
def test_api_bad_input_names_the_field_at_fault(client, enqueued, body):
    problem = client.post("/api/calculations", body, content_type="application/json").json()

    fields = {error["field"] for error in problem["errors"]}
    assert fields & {"n", "items[0].n", "items[0].equation"}
