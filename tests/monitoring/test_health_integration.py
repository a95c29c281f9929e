"""/healthz and /readyz of a real web server while its worker and its Redis come and go."""

import time

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def ready(http) -> tuple[int, dict]:
    response = http.get("/readyz")
    assert response.headers["Content-Type"] == "application/json"
    return response.status_code, response.json()


def statuses(body: dict) -> dict[str, str]:
    return {name: check["status"] for name, check in body["checks"].items()}


def test_readyz_follows_the_worker_and_redis_and_healthz_stays_ok(ops_stack):
    http = ops_stack.start_web()

    code, body = ready(http)
    assert code == 503
    assert statuses(body) == {"database": "ok", "broker": "ok", "workers": "fail"}
    assert "no worker answered" in body["checks"]["workers"]["detail"]

    worker = ops_stack.start_worker()
    code, body = ready(http)
    assert (code, body["status"]) == (200, "ok"), body
    assert body["checks"]["workers"]["detail"] == f"{worker.hostname} answered"
    print(f"\nreadyz, all ok: {body['checks']}")

    ops_stack.redis.stop()
    started = time.monotonic()
    code, body = ready(http)
    elapsed = time.monotonic() - started
    print(f"readyz with Redis stopped: {code} in {elapsed:.2f} s: {body['checks']}")
    assert code == 503
    assert statuses(body) == {"database": "ok", "broker": "fail", "workers": "fail"}
    assert "not asked" in body["checks"]["workers"]["detail"]
    assert elapsed < 10
    assert http.get("/healthz").json() == {"status": "ok"}

    ops_stack.redis.start()
    deadline = time.monotonic() + 60
    while (result := ready(http))[0] != 200:  # the worker reconnects by itself
        assert time.monotonic() < deadline, result
        time.sleep(0.5)
    print(f"readyz after Redis came back: 200 after {time.monotonic() - started:.1f} s")
