"""The JSON API through Django's test client: answers, errors, pagination, idempotency."""

import json
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from calculations.models import Calculation, CalculationOutput, IdempotencyKey
from equations import registry
from tests.calculations.factories import make_calculation, make_finished, make_success

pytestmark = pytest.mark.django_db
S = Calculation.Status


def post(client, path: str, body, **headers):
    return client.post(path, json.dumps(body), content_type="application/json", headers=headers)


def problem(response) -> dict:
    assert response["Content-Type"] == "application/problem+json", response.content[:300]
    body = response.json()
    assert body["status"] == response.status_code and body["title"] and body["detail"]
    return body


def test_equations_lists_the_registry_with_configured_bounds(client, settings):
    settings.CALCQUEUE_MAX_N = {"fibonacci": 1234}
    answer = client.get("/api/equations").json()
    assert [e["key"] for e in answer] == [e.key for e in registry.all_equations()]
    fibonacci = next(e for e in answer if e["key"] == "fibonacci")
    assert (fibonacci["min_n"], fibonacci["max_n"]) == (0, 1234)
    assert fibonacci["label"] and fibonacci["description"]


def test_submit_one_answers_202_with_location_and_enqueues_after_commit(
    client, enqueued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, "/api/calculations", {"equation": "fibonacci", "n": 39})
    assert response.status_code == 202
    body = response.json()
    row = Calculation.objects.get()
    assert response["Location"] == f"/api/calculations/{row.pk}"
    assert (body["id"], body["equation"], body["n"], body["status"]) == (
        str(row.pk),
        "fibonacci",
        39,
        "PENDING",
    )
    assert body["links"] == {
        "self": response["Location"],
        "page": row.get_absolute_url(),
        "output": None,
    }
    assert enqueued == [[str(row.pk)]]


def test_submit_batch_of_several_equations_keeps_the_order(client, enqueued):
    items = [
        {"equation": "fibonacci", "n": 5},
        {"equation": "factorial", "n": 20},
        {"equation": "pi_digits", "n": 3},
    ]
    response = post(client, "/api/calculations", {"items": items})
    assert response.status_code == 202
    assert [(i["equation"], i["n"]) for i in response.json()["items"]] == [
        (i["equation"], i["n"]) for i in items
    ]
    assert "Location" not in response
    assert Calculation.objects.count() == 3


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"equation": "fibonacci", "n": "39"}, 422, "n"),
        ({"equation": "fibonacci", "n": 39.0}, 422, "n"),
        ({"equation": "fibonacci", "n": True}, 422, "n"),
        ({"equation": "fibonacci", "n": -1}, 422, "n"),
        ({"equation": "fibonacci"}, 422, "n"),
        ({"equation": "fibonacci", "n": 1, "extra": 1}, 422, "extra"),
        ({"equation": "nope", "n": 1}, 422, "equation"),
        ({"equation": "fibonacci", "n": 10**30}, 422, "n"),
        ({"items": []}, 422, "items"),
        (
            {"items": [{"equation": "fibonacci", "n": 1}, {"equation": "nope", "n": 1}]},
            422,
            "items[1].equation",
        ),
        (
            {"items": [{"equation": "fibonacci", "n": 1}, {"equation": "factorial", "n": 10**9}]},
            422,
            "items[1].n",
        ),
        ({"items": [{"equation": "fibonacci", "n": 1}, {"n": 1}]}, 422, "items[1].equation"),
        ([1, 2], 422, "body"),
        ("fibonacci", 422, "body"),
    ],
)
def test_submit_refuses_bad_input_naming_the_field_and_creates_nothing(
    client, enqueued, body, status, field
):
    response = post(client, "/api/calculations", body)
    assert response.status_code == status
    assert field in [error["field"] for error in problem(response)["errors"]]
    assert not Calculation.objects.exists() and enqueued == []


def test_submit_of_too_many_is_413(client, enqueued, settings):
    settings.CALCQUEUE_API_MAX_BATCH = 3
    response = post(client, "/api/calculations", {"items": [{"equation": "fibonacci", "n": 1}] * 4})
    assert response.status_code == 413
    assert "At most 3" in problem(response)["detail"]
    assert not Calculation.objects.exists() and enqueued == []


def test_submit_of_malformed_json_is_400(client, enqueued):
    response = client.post("/api/calculations", "{bad", content_type="application/json")
    assert response.status_code == 400 and problem(response)
    assert not Calculation.objects.exists()


def test_submit_of_a_form_body_is_415(client, enqueued):
    response = client.post("/api/calculations", {"equation": "fibonacci", "n": "3"})
    assert response.status_code == 415 and "application/json" in problem(response)["detail"]
    assert not Calculation.objects.exists()


def test_submit_of_a_huge_body_is_413_unread(client, enqueued, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    response = post(
        client, "/api/calculations", {"items": [{"equation": "fibonacci", "n": 1}] * 20}
    )
    assert response.status_code == 413 and problem(response)


def test_wrong_method_is_405_and_unknown_path_404_as_problems(client):
    response = client.put("/api/calculations", "{}", content_type="application/json")
    assert response.status_code == 405 and "POST" in response["Allow"] and problem(response)
    assert client.get("/api/nothing-here").status_code == 404
    assert problem(client.get("/api/nothing-here"))


def test_list_is_newest_first_and_cursor_pages_cover_everything_once(client):
    rows = [
        make_calculation(n=n, created_at=timezone.now() - timedelta(seconds=10 - n))
        for n in range(7)
    ]
    seen, cursor = [], None
    while True:
        page = client.get(
            "/api/calculations", {"limit": 3, **({"cursor": cursor} if cursor else {})}
        ).json()
        seen += [item["n"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [row.n for row in reversed(rows)]


def test_list_filters_by_status_and_equation(client):
    make_calculation(equation="fibonacci", n=1)
    make_finished(S.ERROR, equation="factorial", n=2)
    make_finished(S.ERROR, equation="fibonacci", n=3)
    assert [i["n"] for i in client.get("/api/calculations?status=ERROR").json()["items"]] == [3, 2]
    assert [i["n"] for i in client.get("/api/calculations?equation=factorial").json()["items"]] == [
        2
    ]
    both = client.get("/api/calculations?status=ERROR&equation=fibonacci").json()["items"]
    assert [i["n"] for i in both] == [3]


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("cursor=nonsense", 400),
        ("status=DONE", 422),
        ("equation=nope", 422),
        ("limit=0", 422),
        ("limit=101", 422),
    ],
)
def test_list_refuses_bad_queries(client, query, status):
    response = client.get(f"/api/calculations?{query}")
    assert response.status_code == status and problem(response)


def test_get_gives_the_output_as_a_string_with_its_digit_count(client):
    digits = "12200160415121876738"  # F(93): beyond 2^53, so never a JSON number
    row = make_success(digits, n=93)
    body = client.get(f"/api/calculations/{row.pk}").json()
    assert body["output"] == digits and isinstance(body["output"], str)
    assert (body["output_digits"], body["output_truncated"]) == (20, False)
    assert body["links"]["output"] == f"/api/calculations/{row.pk}/output"


def test_get_gives_every_field_of_a_finished_calculation(client):
    row = make_success("55", n=10, worker="celery@host-7:4242", attempts=2)
    body = client.get(f"/api/calculations/{row.pk}").json()
    assert body == {
        "id": str(row.pk),
        "equation": "fibonacci",
        "n": 10,
        "status": "SUCCESS",
        "progress": 1.0,
        "seconds_remaining": None,
        "error": "",
        "attempts": 2,
        "worker": "celery@host-7:4242",
        "created_at": row.created_at.isoformat().replace("+00:00", "Z"),
        "started_at": row.started_at.isoformat().replace("+00:00", "Z"),
        "finished_at": row.finished_at.isoformat().replace("+00:00", "Z"),
        "duration_seconds": 1.0,
        "cancel_requested_at": None,
        "retry_of": None,
        "output": "55",
        "output_digits": 2,
        "output_truncated": False,
        "notifications": [],
        "links": {
            "self": f"/api/calculations/{row.pk}",
            "page": row.get_absolute_url(),
            "output": f"/api/calculations/{row.pk}/output",
        },
    }


def test_get_of_a_running_calculation_gives_its_worker_and_the_time_left(client):
    # A quarter done in 10 s: 30 s to go at the same rate, as the pages say.
    row = make_calculation(
        status=S.RUNNING,
        started_at=timezone.now() - timedelta(seconds=10),
        progress=0.25,
        worker="celery@host-7:4242",
        attempts=1,
    )
    body = client.get(f"/api/calculations/{row.pk}").json()
    assert body["worker"] == "celery@host-7:4242"
    assert body["seconds_remaining"] == pytest.approx(30, abs=1)
    listed = client.get("/api/calculations").json()["items"][0]
    assert listed["seconds_remaining"] == pytest.approx(30, abs=1)


@pytest.mark.parametrize("progress", [None, 0.001])
def test_get_gives_no_time_left_without_progress_to_extrapolate_from(client, progress):
    row = make_calculation(
        status=S.RUNNING, started_at=timezone.now() - timedelta(seconds=10), progress=progress
    )
    body = client.get(f"/api/calculations/{row.pk}").json()
    assert body["seconds_remaining"] is None


def test_get_of_a_pending_calculation_has_no_worker_yet(client):
    body = client.get(f"/api/calculations/{make_calculation().pk}").json()
    assert (body["worker"], body["seconds_remaining"]) == ("", None)


def test_get_truncates_a_long_output_and_links_to_all_of_it(client, settings):
    settings.CALCQUEUE_API_OUTPUT_DIGITS = 100
    digits = "".join(str(i % 10) for i in range(1, 1001))
    row = make_success(digits)
    body = client.get(f"/api/calculations/{row.pk}").json()
    assert body["output"] == digits[:100]
    assert (body["output_digits"], body["output_truncated"]) == (1000, True)
    output = client.get(body["links"]["output"])
    assert output["Content-Type"].startswith("text/plain")
    assert int(output["Content-Length"]) == 1000
    assert b"".join(output.streaming_content).decode() == digits


def test_get_of_an_unknown_or_malformed_id(client):
    assert problem(client.get(f"/api/calculations/{uuid.uuid4()}"))["status"] == 404
    assert problem(client.get("/api/calculations/not-a-uuid"))["status"] == 422


def test_get_with_wait_returns_after_the_wait_when_not_final(client):
    row = make_calculation()
    started = timezone.now()
    body = client.get(f"/api/calculations/{row.pk}?wait=0.3").json()
    assert body["status"] == "PENDING"
    assert timezone.now() - started >= timedelta(seconds=0.3)


def test_get_with_wait_of_a_final_calculation_returns_at_once(client):
    row = make_finished(S.ERROR, error="boom")
    started = timezone.now()
    assert client.get(f"/api/calculations/{row.pk}?wait=30").json()["error"] == "boom"
    assert timezone.now() - started < timedelta(seconds=1)


@pytest.mark.parametrize("wait", ["31", "-1", "soon"])
def test_get_refuses_a_wait_out_of_bounds(client, wait):
    row = make_calculation()
    assert problem(client.get(f"/api/calculations/{row.pk}?wait={wait}"))["status"] == 422


def test_output_of_a_calculation_without_output_is_409(client):
    row = make_calculation()
    assert problem(client.get(f"/api/calculations/{row.pk}/output"))["status"] == 409


def test_cancel_pending_and_cancel_finished(client):
    pending = make_calculation()
    body = client.post(
        f"/api/calculations/{pending.pk}/cancel", content_type="application/json"
    ).json()
    assert body["status"] == "CANCELLED"
    done = make_success("55", n=10)
    assert (
        problem(
            client.post(f"/api/calculations/{done.pk}/cancel", content_type="application/json")
        )["status"]
        == 409
    )
    assert (
        problem(
            client.post(f"/api/calculations/{uuid.uuid4()}/cancel", content_type="application/json")
        )["status"]
        == 404
    )


def test_retry_creates_a_linked_calculation_or_refuses(client, enqueued):
    failed = make_finished(S.ERROR, n=12)
    response = client.post(f"/api/calculations/{failed.pk}/retry", content_type="application/json")
    assert response.status_code == 202
    retry = Calculation.objects.get(retry_of=failed)
    assert response["Location"] == f"/api/calculations/{retry.pk}"
    assert response.json()["retry_of"] == str(failed.pk)
    done = make_success("55", n=10)
    assert (
        problem(client.post(f"/api/calculations/{done.pk}/retry", content_type="application/json"))[
            "status"
        ]
        == 409
    )


def test_delete_removes_the_calculation_its_output_and_links(client):
    row = make_success("55", n=10)
    retry = make_calculation(retry_of=row)
    assert client.delete(f"/api/calculations/{row.pk}").status_code == 204
    assert not Calculation.objects.filter(pk=row.pk).exists()
    assert not CalculationOutput.objects.exists()
    retry.refresh_from_db()
    assert retry.retry_of is None
    assert problem(client.delete(f"/api/calculations/{row.pk}"))["status"] == 404


def test_idempotency_key_replays_the_first_response_and_creates_nothing_more(
    client, enqueued, django_capture_on_commit_callbacks
):
    body = {"items": [{"equation": "fibonacci", "n": 5}, {"equation": "fibonacci", "n": 6}]}
    with django_capture_on_commit_callbacks(execute=True):
        first = post(client, "/api/calculations", body, **{"Idempotency-Key": "order-1"})
        again = post(client, "/api/calculations", body, **{"Idempotency-Key": "order-1"})
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json() == first.json()
    assert Calculation.objects.count() == 2 and len(enqueued) == 1


def test_idempotency_key_with_another_body_is_refused(client, enqueued):
    post(client, "/api/calculations", {"equation": "fibonacci", "n": 5}, **{"Idempotency-Key": "k"})
    response = post(
        client, "/api/calculations", {"equation": "fibonacci", "n": 6}, **{"Idempotency-Key": "k"}
    )
    assert response.status_code == 422
    assert problem(response)["errors"][0]["field"] == "Idempotency-Key"
    assert Calculation.objects.count() == 1


def test_idempotency_key_expires(client, enqueued, settings):
    settings.CALCQUEUE_IDEMPOTENCY_TTL_SECONDS = 60
    body = {"equation": "fibonacci", "n": 5}
    post(client, "/api/calculations", body, **{"Idempotency-Key": "old"})
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(seconds=61))
    assert post(client, "/api/calculations", body, **{"Idempotency-Key": "old"}).status_code == 202
    assert Calculation.objects.count() == 2


def test_idempotency_key_of_a_refused_request_stores_nothing(client, enqueued):
    bad = post(
        client, "/api/calculations", {"equation": "nope", "n": 5}, **{"Idempotency-Key": "x"}
    )
    assert bad.status_code == 422
    assert not IdempotencyKey.objects.exists()
    good = post(
        client, "/api/calculations", {"equation": "fibonacci", "n": 5}, **{"Idempotency-Key": "x"}
    )
    assert good.status_code == 202


def test_openapi_schema_and_docs_work_offline(client):
    schema = client.get("/api/openapi.json").json()
    assert schema["openapi"].startswith("3.")
    assert {"/api/calculations", "/api/calculations/{calculation_id}", "/api/equations"} <= set(
        schema["paths"]
    )
    calculation = schema["components"]["schemas"]["CalculationOut"]
    assert {"worker", "seconds_remaining"} <= set(calculation["required"])
    assert calculation["properties"]["worker"]["type"] == "string"
    docs = client.get("/api/docs").content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in docs
    assert "cdn" not in docs.lower() and "https://" not in docs


def test_retry_with_an_idempotency_key_retries_once(client, enqueued):
    failed = make_finished(S.ERROR, n=12)
    url = f"/api/calculations/{failed.pk}/retry"
    first = client.post(url, content_type="application/json", headers={"Idempotency-Key": "r"})
    again = client.post(url, content_type="application/json", headers={"Idempotency-Key": "r"})
    assert first.json() == again.json() and first["Location"] == again["Location"]
    assert Calculation.objects.filter(retry_of=failed).count() == 1


def test_expired_idempotency_keys_are_purged(client, enqueued, settings):
    from calculations.idempotency import idempotency_keys_purge

    settings.CALCQUEUE_IDEMPOTENCY_TTL_SECONDS = 60
    for key in ("old", "new"):
        post(
            client,
            "/api/calculations",
            {"equation": "fibonacci", "n": 5},
            **{"Idempotency-Key": key},
        )
    IdempotencyKey.objects.filter(key="old").update(
        created_at=timezone.now() - timedelta(seconds=61)
    )
    assert idempotency_keys_purge() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]
