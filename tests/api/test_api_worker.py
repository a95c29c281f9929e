"""The API against a real worker, Redis and database: submit, long-poll until final, read
the exact digits."""

import json

import gmpy2
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_submit_a_batch_then_wait_gives_exact_results(client, celery_worker):
    items = [{"equation": "fibonacci", "n": n} for n in (39, 4, 6, 32)] + [
        {"equation": "factorial", "n": 30},
        {"equation": "fibonacci", "n": 1_000_000},
    ]
    response = client.post(
        "/api/calculations", json.dumps({"items": items}), content_type="application/json"
    )
    assert response.status_code == 202
    finals = [
        client.get(f"{item['links']['self']}?wait=30").json() for item in response.json()["items"]
    ]
    assert [f["status"] for f in finals] == ["SUCCESS"] * 6
    assert [f["output"] for f in finals[:5]] == [
        "63245986",
        "3",
        "8",
        "2178309",
        "265252859812191058636308480000000",
    ]
    big = finals[5]
    expected = gmpy2.fib(1_000_000).digits()
    assert big["output_digits"] == len(expected) and big["output_truncated"]
    assert big["output"] == expected[:10_000]
    streamed = client.get(big["links"]["output"])
    assert b"".join(streamed.streaming_content).decode() == expected


def test_wait_answers_as_soon_as_the_calculation_finishes(client, celery_worker):
    response = client.post(
        "/api/calculations",
        json.dumps({"equation": "fibonacci", "n": 30}),
        content_type="application/json",
    )
    final = client.get(f"{response['Location']}?wait=30").json()
    assert final["status"] == "SUCCESS" and final["output"] == "832040"
    assert final["duration_seconds"] is not None and final["duration_seconds"] < 5
