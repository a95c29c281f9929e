"""Shared fixtures. Services come from the environment: DATABASE_URL, REDIS_URL and
BROKER_URL when set (CI runs the suite against the machine's PostgreSQL with Redis, then with
RabbitMQ), otherwise the project's embedded Redis and SQLite, as on a new user's machine."""

import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from devstack.embedded_redis import EmbeddedRedis
from devstack.processes import spawn, stop

BASE_DIR = Path(__file__).resolve().parent.parent
WORKER_READY_TIMEOUT_SECONDS = 60.0


SERVICE_VARIABLES = ("DATABASE_URL", "REDIS_URL", "BROKER_URL")


def pytest_collection_modifyitems(config, items) -> None:
    named = [name for name in SERVICE_VARIABLES if os.environ.get(name)]
    if not named:
        return
    skip = pytest.mark.skip(
        reason=f"a new user's setup, the same whatever {', '.join(named)} names: "
        "the pass without service variables runs it"
    )
    for item in items:
        if item.get_closest_marker("new_user_setup"):
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def no_rate_limits(settings) -> None:
    """Rate limits are off unless a test turns them on (tests/calculations/test_admission.py,
    against a real Redis): otherwise each test's submissions would count against the next
    test's, and tests would pass or fail by their order."""
    settings.CALCQUEUE_RATE_LIMIT_ANONYMOUS = None
    settings.CALCQUEUE_RATE_LIMIT_SIGNED_IN = None


@pytest.fixture(scope="session")
def broker_url() -> Iterator[str]:
    """A real broker (Redis, or RabbitMQ with BROKER_URL=amqp://...), emptied of any message
    left by an earlier run; the embedded Redis runs unless REDIS_URL names a server."""
    from config.celery_app import app

    with contextlib.ExitStack() as stack:
        if not os.environ.get("REDIS_URL"):
            stack.enter_context(EmbeddedRedis(settings.STATE_DIR / "redis"))
        app.control.purge()
        yield settings.CELERY_BROKER_URL


def _database_url() -> str:
    """The URL of the test database that this process created, for another process to use."""
    database = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{database['NAME']}"
    if connection.vendor == "postgresql":
        credentials = database["USER"] + (
            f":{database['PASSWORD']}" if database["PASSWORD"] else ""
        )
        host = f"{database['HOST'] or '127.0.0.1'}:{database['PORT'] or 5432}"
        return f"postgres://{credentials}@{host}/{database['NAME']}"
    raise NotImplementedError(f"no worker database URL for {connection.vendor}")


class WorkerProcess:
    def __init__(self, process: subprocess.Popen, hostname: str, log_path: Path) -> None:
        self.process = process
        self.hostname = hostname
        self.log_path = log_path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = WORKER_READY_TIMEOUT_SECONDS) -> "WorkerProcess":
        deadline = time.monotonic() + timeout
        # The worker logs "<node> ready." once it consumes (control ping would need this
        # process's broker to be the worker's, which the drills' is not).
        while f"{self.hostname} ready." not in self.log():
            if self.process.poll() is not None or time.monotonic() > deadline:
                stop(self.process)
                raise RuntimeError(f"the worker did not start:\n{self.log()[-3000:]}")
            time.sleep(0.05)
        return self


def start_worker(
    *,
    log_dir: Path,
    concurrency: int = 12,
    extra_env: dict[str, str] | None = None,
    queues: list[str] | None = None,
    hostname: str | None = None,
    command_prefix: Sequence[str] = (),
    wait: bool = True,
) -> WorkerProcess:
    """Start a real `celery worker` process on the test database and wait until it answers.

    `command_prefix` runs it through another command (`ip netns exec <host>` for a worker on
    another network host); `wait=False` returns at once, for several to start side by side.
    """
    hostname = hostname or f"test-{uuid.uuid4().hex[:8]}@%h"
    log_path = log_dir / f"worker-{hostname.replace('@', '-')}.log"
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "BROKER_URL": settings.CELERY_BROKER_URL,
        "CALCQUEUE_WORKER_CONCURRENCY": str(concurrency),
        **(extra_env or {}),
    }
    with log_path.open("wb") as log:
        process = spawn(
            [
                *command_prefix,
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--loglevel",
                "INFO",
                "--hostname",
                hostname,
                "--without-mingle",
                "--without-gossip",
                *(["--queues", ",".join(queues)] if queues else []),
            ],
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    worker = WorkerProcess(process, hostname.replace("%h", os.uname().nodename), log_path)
    return worker.wait_ready() if wait else worker


def kill_at_teardown(*processes: subprocess.Popen) -> None:
    """End the processes of a test that has checked what it needed: each whole process group
    is killed at once. A tear-down checks nothing, and a Celery worker's warm shutdown alone
    takes about 2 s (the drills that test a graceful stop signal it themselves)."""
    for process in processes:
        stop(process, grace=0)


@pytest.fixture(scope="session")
def worker_log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("workers")


@pytest.fixture(scope="session")
def celery_worker(
    broker_url: str, django_db_setup: None, django_db_blocker, worker_log_dir: Path
) -> Iterator[WorkerProcess]:
    """One real worker process (12 pool processes, as in production) for the session."""
    with django_db_blocker.unblock():
        worker = start_worker(log_dir=worker_log_dir)
    yield worker
    kill_at_teardown(worker.process)


@pytest.fixture
def wait_until() -> Callable[..., None]:
    def wait(condition: Callable[[], bool], *, timeout: float = 30.0, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")
            time.sleep(0.02)

    return wait


def clear_cache() -> None:
    """Empty the project's cache without cache.clear(): the cache shares the broker's Redis
    database, and clear() is FLUSHDB there, which would drop queued messages too."""
    from django.core.cache import cache

    client = cache._cache.get_client(write=True)
    keys = list(client.scan_iter(match=f"{settings.CACHES['default']['KEY_PREFIX']}:*"))
    if keys:
        client.delete(*keys)
