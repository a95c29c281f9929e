"""Flower, started as `make flower` starts it, on the broker of a real worker: its HTTP API
lists the worker and a task it ran."""

import os
import subprocess
import sys
import time

import httpx
import pytest

from calculations import services
from calculations.models import Calculation
from calculations.routing import plan_messages
from devstack.processes import spawn
from tests.calculations.factories import owner_caller
from tests.conftest import BASE_DIR, _database_url, kill_at_teardown, start_worker
from tests.monitoring.conftest import free_port, wait_for_http

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
AUTH = ("operator", "correct-horse")
FLOWER = [sys.executable, "-m", "celery", "-A", "config", "flower", "--conf=config/flowerconfig.py"]


def test_flower_api_lists_our_worker_and_a_task_it_ran(broker_url, tmp_path):
    # On the session's broker, which this process publishes to; another worker of the session
    # may be consuming there too.
    worker = start_worker(log_dir=tmp_path, concurrency=2)
    port = free_port()
    log = tmp_path / "flower.log"
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "REDIS_URL": broker_url,
        "FLOWER_PORT": str(port),
        "FLOWER_BASIC_AUTH": ":".join(AUTH),
    }
    with log.open("wb") as output:
        flower = spawn(FLOWER, cwd=BASE_DIR, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for_http(url + "/healthcheck", flower, log)
        assert httpx.get(url + "/api/workers").status_code == 401  # auth is required
        # Flower's own metrics come from the events it consumes: once they count our worker
        # (its heartbeats), no event of the task can be missed.
        deadline = time.monotonic() + 60
        while f'worker="{worker.hostname}"' not in httpx.get(url + "/metrics", auth=AUTH).text:
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)

        # Long work travels one calculation per message, whose task id is the calculation id.
        (calculation,) = services.calculations_submit(
            caller=owner_caller(), equation="fibonacci", inputs=[5_000_000]
        )
        assert not next(plan_messages([calculation])).is_chunk
        deadline = time.monotonic() + 60
        task = {}
        while task.get("state") != "SUCCESS":
            assert time.monotonic() < deadline, (task, log.read_text()[-3000:])
            time.sleep(0.5)
            tasks = httpx.get(url + "/api/tasks", auth=AUTH, timeout=10).json()
            task = tasks.get(str(calculation.pk), {})
        assert task["name"] == "calculations.run_calculation"
        assert task["args"] == repr((str(calculation.pk),))
        assert Calculation.objects.get(pk=calculation.pk).status == Calculation.Status.SUCCESS

        workers = httpx.get(url + "/api/workers?refresh=1", auth=AUTH, timeout=10).json()
        assert worker.hostname in workers
        assert workers[worker.hostname]["stats"]["pool"]["max-concurrency"] == 2
        assert task["worker"] in workers
        print(
            f"\nFlower lists {sorted(workers)}; task {calculation.pk} {task['state']} on "
            f"{task['worker']}"
        )
    finally:
        kill_at_teardown(flower, worker.process)


def test_flower_refuses_to_start_without_auth_in_production(ops_stack):
    env = {key: value for key, value in ops_stack.env.items() if not key.startswith("FLOWER_")} | {
        "CALCQUEUE_ENV": "production",
        "SECRET_KEY": "x" * 60,
        "ALLOWED_HOSTS": "example.com",
    }
    completed = subprocess.run(
        FLOWER, cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=60
    )
    assert completed.returncode != 0
    assert "FLOWER_BASIC_AUTH=user:password is required" in completed.stderr + completed.stdout
