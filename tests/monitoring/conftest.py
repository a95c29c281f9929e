"""A private calcqueue in real processes for the operations tests: its own embedded Redis
(which a test may stop), gunicorn with deploy/gunicorn.conf.py and workers on the test
database, all sharing one prometheus-client multiprocess directory as in production."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devstack.embedded_redis import EmbeddedRedis
from devstack.processes import spawn, stop
from tests.conftest import BASE_DIR, WorkerProcess, _database_url, kill_at_teardown, start_worker

START_TIMEOUT_SECONDS = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_http(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer:\n{log.read_text()[-3000:]}") from None
            time.sleep(0.1)


class OpsStack:
    def __init__(self, directory: Path, extra_env: dict[str, str]) -> None:
        self.directory = directory
        self.redis = EmbeddedRedis(directory / "redis")
        self.metrics_dir = directory / "metrics"
        self.metrics_dir.mkdir()
        self.env = {
            **os.environ,
            "DATABASE_URL": _database_url(),
            # Its own Redis as the broker too, whatever the session's broker: the tests stop it.
            "REDIS_URL": self.redis.url,
            "BROKER_URL": self.redis.url,
            "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir),
            **extra_env,
        }
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.web: subprocess.Popen | None = None
        self.workers: list[WorkerProcess] = []

    def start_web(self) -> httpx.Client:
        log = self.directory / "web.log"
        with log.open("ab") as output:
            self.web = spawn(
                [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py"],
                cwd=BASE_DIR,
                env={**self.env, "PORT": str(self.port), "WEB_CONCURRENCY": "2"},
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        wait_for_http(self.url + "/healthz", self.web, log)
        return self.operator_client()

    def operator_client(self) -> httpx.Client:
        """A client signed in as a staff user (the dashboard is for staff), sending the CSRF
        token with its writes as a page's script would."""
        from django.conf import settings
        from django.contrib.auth import get_user_model
        from django.test import Client

        user, _ = get_user_model().objects.get_or_create(username="operator", is_staff=True)
        session = Client()
        session.force_login(user)
        client = httpx.Client(base_url=self.url, timeout=30)
        client.cookies.set(
            settings.SESSION_COOKIE_NAME, session.cookies[settings.SESSION_COOKIE_NAME].value
        )
        client.get("/")
        client.headers["X-CSRFToken"] = client.cookies["csrftoken"]
        return client

    def start_worker(self, concurrency: int = 2, **env: str) -> WorkerProcess:
        worker = start_worker(
            log_dir=self.directory,
            concurrency=concurrency,
            extra_env={
                key: value
                for key, value in self.env.items()
                if key.startswith(("CALCQUEUE_", "PROMETHEUS_"))
                or key in {"REDIS_URL", "BROKER_URL"}
            }
            | env,
        )
        self.workers.append(worker)
        return worker

    def stop_worker(self, worker: WorkerProcess) -> None:
        stop(worker.process, grace=10)
        self.workers.remove(worker)

    def web_log(self) -> str:
        return (self.directory / "web.log").read_text(errors="replace")

    def stop(self) -> None:
        kill_at_teardown(*(worker.process for worker in self.workers))
        if self.web is not None:
            kill_at_teardown(self.web)
        self.redis.stop()


@pytest.fixture
def ops_stack(request, tmp_path) -> Iterator[OpsStack]:
    """Redis started; each test starts the web server and workers it needs."""
    marker = request.node.get_closest_marker("ops_env")
    stack = OpsStack(tmp_path, marker.args[0] if marker else {})
    stack.redis.start()
    try:
        yield stack
    finally:
        stack.stop()
