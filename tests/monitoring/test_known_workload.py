"""/metrics and the dashboard of a real stack (gunicorn with two processes, a worker with two
pool processes, Redis, the test database) checked against a workload whose every count is
known: 5 successes, 1 time-limit error, 1 cancellation."""

import re
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from calculations.models import Calculation

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
S = Calculation.Status


def scrape(http) -> dict[tuple[str, tuple], float]:
    response = http.get("/metrics")
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def label(**labels) -> tuple:
    return tuple(sorted(labels.items()))


def submit(http, items) -> list[str]:
    response = http.post("/api/calculations", json={"items": items})
    assert response.status_code == 202, response.text
    return [item["id"] for item in response.json()["items"]]


def wait_for(condition, what: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
    return result


@pytest.mark.ops_env({"CALCQUEUE_TIME_LIMITS": "nth_prime=1:5"})
def test_metrics_and_dashboard_count_a_known_workload(ops_stack):
    http = ops_stack.start_web()
    ids = submit(http, [{"equation": "fibonacci", "n": n} for n in (10, 20, 30)])
    ids += submit(http, [{"equation": "factorial", "n": n} for n in (10, 20)])
    ids += submit(http, [{"equation": "nth_prime", "n": 300_000_000}])  # hits its 1 s limit
    (cancelled,) = submit(http, [{"equation": "fibonacci", "n": 40}])
    assert http.post(f"/api/calculations/{cancelled}/cancel").json()["status"] == "CANCELLED"

    # Nothing consumes yet: everything waits, in the queues and in the rows.
    before = scrape(http)
    assert before[("calcqueue_queue_messages", label(queue="calculations.short"))] == 3
    assert before[("calcqueue_queue_messages", label(queue="calculations"))] == 1
    for equation, count in {"fibonacci": 3, "factorial": 2, "nth_prime": 1}.items():
        key = ("calcqueue_calculations", label(equation=equation, status="PENDING"))
        assert before[key] == count, equation
    assert before[("calcqueue_oldest_pending_age_seconds", ())] > 0
    assert before[("calcqueue_workers_online", ())] == 0

    worker = ops_stack.start_worker(concurrency=2)
    wait_for(
        lambda: not Calculation.objects.exclude(status__in=Calculation.FINAL_STATUSES).exists(),
        "every calculation to finish",
    )
    assert sorted(Calculation.objects.values_list("status", flat=True)) == sorted(
        [S.SUCCESS] * 5 + [S.ERROR, S.CANCELLED]
    )
    # Each web process caches what the workers answered for a few seconds.
    after = wait_for(
        lambda: (m := scrape(http))[("calcqueue_workers_online", ())] == 1 and m,
        "the worker to be counted",
    )
    print(
        "\n"
        + "\n".join(
            f"{name}{dict(labels)} {value}"
            for (name, labels), value in sorted(after.items())
            if name.endswith("_total") or name.endswith("_count")
        )
    )

    finished = "calcqueue_calculations_finished_total"
    assert after[(finished, label(equation="fibonacci", status="SUCCESS"))] == 3
    assert after[(finished, label(equation="factorial", status="SUCCESS"))] == 2
    assert after[(finished, label(equation="nth_prime", status="ERROR"))] == 1
    assert after[(finished, label(equation="fibonacci", status="CANCELLED"))] == 1
    assert sum(v for (name, _), v in after.items() if name == finished) == 7

    duration = "calcqueue_calculation_duration_seconds"
    assert after[(duration + "_count", label(equation="fibonacci", status="SUCCESS"))] == 3
    assert after[(duration + "_count", label(equation="factorial", status="SUCCESS"))] == 2
    # Counted in the worker's pool process that hit the soft limit, exported by gunicorn.
    limited = after[(duration + "_sum", label(equation="nth_prime", status="ERROR"))]
    assert 0.5 < limited < 5.0  # the soft limit counts from the task's start, a bit earlier
    assert after[(duration + "_bucket", label(equation="nth_prime", le="0.5", status="ERROR"))] == 0
    assert after[(duration + "_bucket", label(equation="nth_prime", le="5.0", status="ERROR"))] == 1

    submitted = "calcqueue_calculations_submitted_total"
    assert after[(submitted, label(equation="fibonacci"))] == 4
    assert after[(submitted, label(equation="factorial"))] == 2
    assert after[(submitted, label(equation="nth_prime"))] == 1

    # Four POSTs, answered by either of gunicorn's two processes, added up.
    posts = label(method="POST", route="/api/calculations", status="202")
    assert after[("calcqueue_http_requests_total", posts)] == 4
    assert after[("calcqueue_queue_messages", label(queue="calculations.short"))] == 0
    assert after[("calcqueue_queue_messages", label(queue="calculations"))] == 0
    assert after[("calcqueue_calculations", label(equation="fibonacci", status="PENDING"))] == 0
    assert after[("calcqueue_worker_pool_processes", label(worker=worker.hostname))] == 2

    html = http.get("/dashboard/").text
    figures = dict(re.findall(r'id="(finished-\w+)"[^>]*>([^<]*)<', html))
    assert figures == {"finished-success": "5", "finished-error": "1", "finished-cancelled": "1"}
    assert re.search(r'id="pending-count"[^>]*>0<', html)
    samples = dict(
        re.findall(r'<tr data-equation="(\w+)"><td>\w+</td><td class="num">(\d+)<', html)
    )
    assert samples == {"fibonacci": "3", "factorial": "2"}
    workers = http.get("/dashboard/workers/").text
    assert f'data-worker="{worker.hostname}"' in workers
    assert re.search(r'id="workers-online">1<', workers)
