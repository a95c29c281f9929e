"""Malformed API submissions, as raw bodies: each gets a 4xx problem naming the field at fault,
never a 500, and nothing is created or queued. Positive controls at each bound show that the
same requests, one step inside it, do create and queue."""

import json

import pytest

from calculations.models import Calculation

pytestmark = pytest.mark.django_db

BOUND = 10_000_000  # The default bound of fibonacci.
BAD_N = [
    "-1",
    "-0.0",
    '"-0"',
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
# Python's json refuses an integer of more than 4,300 digits: the whole body is unreadable.
UNREADABLE_N = "9" * 5000
# Below or above each equation's own bounds (the defaults). Factorial's -1 is in BAD_N.
OUT_OF_BOUNDS = [
    ("factorial", 3_000_001),
    ("nth_prime", 0),
    ("nth_prime", 300_000_001),
    ("pi_digits", -1),
    ("pi_digits", 10_000_001),
]
GOOD_ITEM = '{"equation": "fibonacci", "n": 4}'
# About a megabyte each: far more items than CALCQUEUE_API_MAX_BATCH (1,000), and one field
# the schema does not know. Both are below the body limit (DATA_UPLOAD_MAX_MEMORY_SIZE, 2.5 MB,
# tested on its own below), so the API reads them and names what is wrong.
ONE_MB_BATCH = '{"items": [' + ", ".join([GOOD_ITEM] * 30_000) + "]}"
ONE_MB_FIELD = '{"equation": "fibonacci", "n": 5, "note": "' + "x" * 1_000_000 + '"}'


def _n_field(n: str, name: str) -> str:
    return "body" if n == UNREADABLE_N else name


# (body, the field its problem must name)
BAD_BODIES = [
    *[(f'{{"equation": "fibonacci", "n": {n}}}', _n_field(n, "n")) for n in BAD_N],
    *[(f'{{"equation": "factorial", "n": {n}}}', _n_field(n, "n")) for n in BAD_N],
    *[(f'{{"equation": "{key}", "n": {n}}}', "n") for key, n in OUT_OF_BOUNDS],
    *[
        (
            f'{{"items": [{GOOD_ITEM}, {{"equation": "fibonacci", "n": {n}}}]}}',
            _n_field(n, "items[1].n"),
        )
        for n in BAD_N
    ],
    ('{"equation": "fibonacci"}', "n"),
    ('{"n": 5}', "equation"),
    ('{"equation": "nope", "n": 5}', "equation"),
    ('{"equation": "", "n": 5}', "equation"),
    ('{"equation": "FIBONACCI", "n": 5}', "equation"),
    ('{"equation": "fibonacci\\u0000", "n": 5}', "equation"),
    ('{"equation": 5, "n": 5}', "equation"),
    ('{"equation": null, "n": 5}', "equation"),
    ('{"equation": "' + "x" * 100_000 + '", "n": 5}', "equation"),
    ('{"equation": "fibonacci", "n": 5, "extra": 1}', "extra"),
    ('{"items": []}', "items"),
    ('{"items": null}', "items"),
    ('{"items": [5]}', "items[0]"),
    ('{"items": "fibonacci"}', "items"),
    ('{"items": [{"equation": "fibonacci", "n": 4}], "n": 5}', "n"),
    ("", "body"),
    (" ", "body"),
    ("null", "body"),
    ("[]", "body"),
    ("5", "body"),
    ('"fibonacci"', "body"),
    ("{", "body"),
    ('{"equation": "fibonacci", "n": 5', "body"),
    ('{"equation": "fibonacci", "n": NaN}', "n"),
    ('{"equation": "fibonacci", "n": Infinity}', "n"),
    ("{'equation': 'fibonacci', 'n': 5}", "body"),
    ('{"equation": "fibonacci", "n": 5}{"equation": "fibonacci", "n": 6}', "body"),
    ("\x00", "body"),
    (b'{"equation": "fibonacci", "n": 5, "note": "\xff"}', "body"),  # not UTF-8
    ("[" * 100_000 + "]" * 100_000, "body"),  # deeper than Python's JSON parser recurses
    ("\ufeff{}", "equation"),
    (ONE_MB_BATCH, "items"),
    (ONE_MB_FIELD, "note"),
]


def _id(case) -> str:
    body = case if isinstance(case, str) else case[0]
    return f"{len(body)}B:{body!r:.50}"


@pytest.fixture
def submit(client, django_capture_on_commit_callbacks):
    def post(body: str):
        # Publishing waits for the commit, which this test's transaction never makes: run
        # what the request left for after commit, so that `enqueued` sees what it would send.
        with django_capture_on_commit_callbacks(execute=True):
            return client.post("/api/calculations", body, content_type="application/json")

    return post


def assert_refused(response, *, field: str, enqueued) -> None:
    """4xx, a problem naming `field`, no row, nothing queued."""
    assert 400 <= response.status_code < 500, response.content[:300]
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == response.status_code
    assert len(problem["detail"]) > 10
    assert Calculation.objects.count() == 0
    assert enqueued == []
    assert field in {error["field"] for error in problem["errors"]}, problem["errors"]


def test_api_bad_input_table_has_a_hundred_cases_none_twice():
    bodies = [body for body, _ in BAD_BODIES]
    assert len(bodies) >= 100
    assert len(set(bodies)) == len(bodies)


@pytest.mark.parametrize(("body", "field"), BAD_BODIES, ids=map(_id, BAD_BODIES))
def test_api_bad_input_is_refused_with_a_problem_naming_the_field(submit, enqueued, body, field):
    assert_refused(submit(body), field=field, enqueued=enqueued)


def test_api_bad_input_one_mb_batch_is_413_too_many_items(submit, enqueued):
    assert len(ONE_MB_BATCH) > 1_000_000
    response = submit(ONE_MB_BATCH)
    assert response.status_code == 413
    assert response.json()["detail"] == "At most 1000 calculations at once; you sent 30000."
    assert_refused(response, field="items", enqueued=enqueued)


@pytest.mark.parametrize(
    ("equation", "bound"),
    [("fibonacci", BOUND), ("factorial", 3_000_000), ("nth_prime", 300_000_000)],
)
def test_api_bad_input_bound_is_accepted_and_one_above_refused(
    client, submit, enqueued, equation, bound
):
    # The bound as the API itself reports it for this (signed-in) caller.
    (listed,) = [e for e in client.get("/api/equations").json() if e["key"] == equation]
    assert listed["max_n"] == bound

    accepted = submit(json.dumps({"equation": equation, "n": bound}))
    assert accepted.status_code == 202, accepted.content[:300]
    (row,) = Calculation.objects.all()
    assert (row.equation, row.n) == (equation, bound)
    assert enqueued == [[str(row.pk)]]
    # Clean up through the API, so the refusal below starts from nothing again.
    assert client.delete(f"/api/calculations/{row.pk}").status_code == 204
    assert not Calculation.objects.exists()
    enqueued.clear()

    refused = submit(json.dumps({"equation": equation, "n": bound + 1}))
    assert refused.status_code == 422
    assert_refused(refused, field="n", enqueued=enqueued)


def test_api_bad_input_body_at_the_size_limit_is_read_and_one_byte_more_is_413(
    client, submit, enqueued, settings
):
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    valid = '{"equation": "fibonacci", "n": 5}'
    at_limit = valid + " " * (limit - len(valid))  # JSON allows white space after the value

    accepted = submit(at_limit)
    assert accepted.status_code == 202, accepted.content[:300]
    (row,) = Calculation.objects.all()
    assert client.delete(f"/api/calculations/{row.pk}").status_code == 204
    enqueued.clear()

    refused = submit(at_limit + " ")
    assert refused.status_code == 413
    assert f"{limit + 1:,} bytes" in refused.json()["detail"]
    assert_refused(refused, field="body", enqueued=enqueued)


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ('{"equation": "fibonacci", "n": -0}', "n"),
        ('{"items": [{"equation": "fibonacci", "n": -0}]}', "items"),
    ],
)
def test_api_minus_zero_is_the_number_zero_and_accepted(submit, enqueued, body, key):
    # JSON's -0 is a number equal to 0, which json.loads reads as the integer 0: nothing after
    # parsing tells it from 0. The form refuses the text "-0" as it refuses every sign.
    response = submit(body)
    assert response.status_code == 202, response.content[:300]
    (row,) = Calculation.objects.all()
    assert row.n == 0 and enqueued == [[str(row.pk)]]
    shown = response.json() if key == "n" else response.json()["items"][0]
    assert shown["n"] == 0
