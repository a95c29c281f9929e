"""Fault drills: a whole calcqueue (web server, beat, workers, Redis, database) in real
processes, with failures injected. Each drill records its counts; the table is printed at
the end of the run so the figures can be quoted."""

import functools
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import gmpy2
import httpx
import pytest
import redis

from calculations.models import Calculation
from devstack.embedded_redis import EmbeddedRedis
from devstack.forwarder import TcpForwarder
from devstack.processes import spawn
from tests.conftest import BASE_DIR, WorkerProcess, _database_url, kill_at_teardown, start_worker

# Fast knobs, so that a lost lease or message is noticed within seconds.
DRILL_ENV = {
    "CALCQUEUE_LEASE_SECONDS": "3",
    "CALCQUEUE_HEARTBEAT_SECONDS": "0.5",
    "CALCQUEUE_REQUEUE_AFTER_SECONDS": "2",
    "CALCQUEUE_SWEEP_INTERVAL_SECONDS": "1",
    "CALCQUEUE_CANCEL_GRACE_SECONDS": "1",
    "CALCQUEUE_MAX_N": "fibonacci=100000000",
    # The drills submit thousands of calculations anonymously as fast as they can, to break
    # the delivery of work, not its admission (tested in tests/calculations/test_admission.py).
    "CALCQUEUE_ANON_MAX_N": "fibonacci=100000000",
    "CALCQUEUE_RATE_LIMIT_ANONYMOUS": "off",
    "CALCQUEUE_BACKPRESSURE_MAX_UNFINISHED": "0",
    "CALCQUEUE_BACKPRESSURE_MAX_WAIT_SECONDS": "0",
}

_REPORTS: list["DrillReport"] = []


@dataclass
class DrillReport:
    name: str
    accepted: int = 0
    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0
    lost: int = 0
    duplicates: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def pytest_terminal_summary(terminalreporter) -> None:
    if not _REPORTS:
        return
    terminalreporter.section("fault drills")
    terminalreporter.write_line(
        f"{'drill':<44} {'accepted':>8} {'success':>8} {'error':>6} {'cancel':>6} "
        f"{'lost':>5} {'dupl.':>6} {'seconds':>8}"
    )
    for r in _REPORTS:
        terminalreporter.write_line(
            f"{r.name:<44} {r.accepted:>8} {r.succeeded:>8} {r.failed:>6} {r.cancelled:>6} "
            f"{r.lost:>5} {r.duplicates:>6} {r.seconds:>8.1f}"
        )
        for note in r.notes:
            terminalreporter.write_line(f"    {note}")


@functools.cache
def fibonacci_digits(n: int) -> str:
    return gmpy2.fib(n).digits()


# Each SUCCESS is checked against GMP's own functions, not the project's code.
_EXACT_DIGITS = {"fibonacci": fibonacci_digits, "factorial": lambda n: gmpy2.fac(n).digits()}


class DrillBroker:
    """The drills' own broker, never the one the session's worker consumes from.

    - Neither BROKER_URL nor REDIS_URL set: a private embedded Redis, which drill 4 stops.
    - An external Redis (REDIS_URL, or BROKER_URL=redis://...): the next database number on
      it. - RabbitMQ (BROKER_URL=amqp://.../<vhost>): the vhost `<vhost>-drills`
      (`calcqueue-drills` for the default vhost `/`), which must exist.

    An external server is shared, so it is never stopped: the drill stack reaches it through
    a TCP forwarder, and "the broker is down" cuts every connection and refuses new ones.
    """

    def __init__(self, directory: Path) -> None:
        external = os.environ.get("BROKER_URL") or os.environ.get("REDIS_URL")
        self.embedded: EmbeddedRedis | None = None
        self.forwarder: TcpForwarder | None = None
        if not external:
            self.embedded = EmbeddedRedis(directory)
            self.url = self.direct_url = self.embedded.url
            self.kind = "embedded Redis"
            return
        parts = urllib.parse.urlsplit(external)
        if parts.scheme.startswith("redis"):
            database = int(parts.path.strip("/") or 0) + 1
            self.kind = "Redis"
        else:
            vhost = urllib.parse.unquote(parts.path[1:]) or "/"
            database = urllib.parse.quote(
                "calcqueue-drills" if vhost == "/" else f"{vhost}-drills", safe=""
            )
            self.kind = "RabbitMQ"
        self.direct_url = urllib.parse.urlunsplit(parts._replace(path=f"/{database}"))
        self.forwarder = TcpForwarder("127.0.0.1", (parts.hostname, parts.port))
        netloc = parts.netloc.rpartition("@")[0]
        self.netloc_credentials = netloc + "@" if netloc else ""
        self._parts = parts._replace(path=f"/{database}")

    @property
    def is_rabbitmq(self) -> bool:
        return self.kind == "RabbitMQ"

    def env(self) -> dict[str, str]:
        """The drill processes' broker, and their Redis: the broker itself when it is Redis,
        as with `make run`, otherwise the session's."""
        from django.conf import settings

        return {
            "BROKER_URL": self.url,
            "REDIS_URL": settings.REDIS_URL if self.is_rabbitmq else self.url,
        }

    def start(self) -> None:
        if self.embedded:
            self.embedded.start()
            return
        self.forwarder.start()
        self.url = urllib.parse.urlunsplit(
            self._parts._replace(netloc=f"{self.netloc_credentials}{self.forwarder.address}")
        )
        if self.is_rabbitmq:
            self._check_vhost()

    def stop(self) -> None:
        if self.embedded:
            self.embedded.stop()
        else:
            self.forwarder.cut()

    def how_stopped(self) -> str:
        if self.embedded:
            return "the embedded Redis server was stopped and started again"
        return f"every connection to the shared {self.kind} was cut by a TCP forwarder"

    def how_emptied(self) -> str:
        if self.embedded:
            return "the embedded Redis restarted without its append-only file"
        if self.is_rabbitmq:
            return "RabbitMQ: both quorum queues purged instead of a restart"
        return "external Redis: emptied with FLUSHDB instead of a restart"

    def empty(self) -> None:
        """Drop every queued message."""
        if self.is_rabbitmq:
            from config.celery_app import app

            with app.connection_for_write(self.direct_url) as connection:
                for queue in app.amqp.queues.values():
                    bound = queue(connection.default_channel)
                    bound.declare()
                    bound.purge()
        else:
            self.redis_client().flushdb()

    def redis_client(self) -> redis.Redis:
        if self.embedded:
            return redis.Redis(unix_socket_path=str(self.embedded.socket))
        return redis.Redis.from_url(self.direct_url)

    def restart_empty(self) -> None:
        """Lose every queued message, as a Redis restarted without persistence does."""
        if self.embedded:
            self.embedded.stop()
            for path in self.embedded.directory.glob("appendonly*"):
                shutil.rmtree(path) if path.is_dir() else path.unlink()
            self.embedded.start()
        else:
            self.empty()

    def _check_vhost(self) -> None:
        from config.celery_app import app

        vhost = urllib.parse.unquote(self._parts.path[1:])
        try:
            with app.connection_for_write(self.direct_url) as connection:
                connection.ensure_connection(max_retries=1)
        except Exception as error:
            raise pytest.UsageError(
                f"the drills need their own RabbitMQ vhost {vhost!r} ({error}); create it: "
                f"rabbitmqctl add_vhost {vhost} && rabbitmqctl set_permissions -p {vhost} "
                f"{self._parts.username} '.*' '.*' '.*'"
            ) from error


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class DrillStack:
    def __init__(self, broker: DrillBroker, log_dir: Path, extra_env: dict[str, str]) -> None:
        self.broker = broker
        self.log_dir = log_dir
        self.env = {
            **os.environ,
            **DRILL_ENV,
            **extra_env,
            "DATABASE_URL": _database_url(),
            **broker.env(),
        }
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.processes: list[subprocess.Popen] = []
        self.workers: list[WorkerProcess] = []
        self.worker_restarts = 0
        self._stopping = threading.Event()

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        with (self.log_dir / f"{name}.log").open("ab") as log:
            process = spawn(args, cwd=BASE_DIR, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.processes.append(process)
        return process

    def start(self) -> "DrillStack":
        web = self._spawn(
            "web",
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{self.port}", "--noreload"],
        )
        schedule = self.log_dir / "celerybeat-schedule"
        self._spawn(
            "beat",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "beat",
                "--loglevel",
                "INFO",
                "--schedule",
                str(schedule),
            ],
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(self.url + "/", timeout=2)
                break
            except httpx.TransportError:
                assert web.poll() is None and time.monotonic() < deadline, "web did not start"
                time.sleep(0.2)
        self.http = httpx.Client(base_url=self.url, timeout=30)
        self.http.get("/")
        # As a page's script would: API writes with the session cookie carry the CSRF token.
        self.http.headers["X-CSRFToken"] = self.http.cookies["csrftoken"]
        return self

    def start_worker(self, concurrency: int = 4, queues: list[str] | None = None) -> WorkerProcess:
        worker = start_worker(
            log_dir=self.log_dir,
            concurrency=concurrency,
            queues=queues,
            extra_env={k: v for k, v in self.env.items() if k.startswith("CALCQUEUE_")}
            | self.broker.env(),
        )
        self.workers.append(worker)
        return worker

    def supervise_workers(self, concurrency: int = 4) -> None:
        """Restart a worker that exits, as `make run` and systemd do in production."""

        def watch() -> None:
            while not self._stopping.wait(0.2):
                if self.workers[-1].process.poll() is not None:
                    self.worker_restarts += 1
                    self.start_worker(concurrency=concurrency)

        self.start_worker(concurrency=concurrency)
        threading.Thread(target=watch, daemon=True).start()

    def submit(self, numbers: list[int], *, equation: str = "fibonacci") -> httpx.Response:
        return self.http.post(
            "/",
            data={
                "equation": equation,
                "n": ", ".join(map(str, numbers)),
                "csrfmiddlewaretoken": self.http.cookies["csrftoken"],
            },
        )

    def cancel(self, calculation_id) -> httpx.Response:
        return self.http.post(
            f"/calculations/{calculation_id}/cancel/",
            data={"csrfmiddlewaretoken": self.http.cookies["csrftoken"]},
        )

    def worker_logs(self) -> str:
        return "".join(worker.log() for worker in self.workers)

    def stop(self) -> None:
        self._stopping.set()
        kill_at_teardown(*(worker.process for worker in self.workers), *self.processes)


def wait_all_final(*, timeout: float) -> float:
    """Wait until no calculation is PENDING or RUNNING; return the seconds it took."""
    started = time.monotonic()
    active = [Calculation.Status.PENDING, Calculation.Status.RUNNING]
    while Calculation.objects.filter(status__in=active).exists():
        if time.monotonic() - started > timeout:
            stuck = list(Calculation.objects.filter(status__in=active).values("n", "status"))
            raise AssertionError(f"not final after {timeout} s: {stuck[:10]} ({len(stuck)})")
        time.sleep(0.05)
    return time.monotonic() - started


def settle_report(report: DrillReport, stack: DrillStack, *, accepted: int) -> DrillReport:
    """Count outcomes, check every SUCCESS is exact and count results stored twice."""
    rows = list(Calculation.objects.select_related("output"))
    # Every row is one the drill was shown as accepted: otherwise an extra row (a duplicate
    # created by a redelivery) could make up for a lost one in the counts below.
    assert len(rows) == accepted, f"{len(rows)} rows for {accepted} accepted calculations"
    report.accepted = accepted
    report.succeeded = sum(r.status == Calculation.Status.SUCCESS for r in rows)
    report.failed = sum(r.status == Calculation.Status.ERROR for r in rows)
    report.cancelled = sum(r.status == Calculation.Status.CANCELLED for r in rows)
    report.lost = accepted - report.succeeded - report.failed - report.cancelled
    logs = stack.worker_logs()
    report.duplicates = sum(
        max(
            logs.count(
                f"calculation id={r.pk} equation={r.equation} n={r.n} status=SUCCESS duration="
            )
            - 1,
            0,
        )
        for r in rows
    )
    for row in rows:
        if row.status == Calculation.Status.SUCCESS:
            exact = _EXACT_DIGITS[row.equation](row.n)
            assert row.output.digits == exact, f"wrong {row.equation}({row.n})"
    _REPORTS.append(report)
    return report


@pytest.fixture(scope="session")
def drill_broker(request, tmp_path_factory) -> Iterator[DrillBroker]:
    broker = DrillBroker(tmp_path_factory.mktemp("drill-redis"))
    if broker.is_rabbitmq:
        request.getfixturevalue("broker_url")  # The session's Redis, for everything else.
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def drill_stack(request, drill_broker, tmp_path, settings) -> Iterator[DrillStack]:
    """The web server and beat on the drills' broker; each drill starts its own workers."""
    marker = request.node.get_closest_marker("drill_env")
    drill_broker.empty()
    stack = DrillStack(drill_broker, tmp_path, marker.args[0] if marker else {})
    settings.CALCQUEUE_MAX_N = {"fibonacci": 100_000_000}
    try:
        yield stack.start()
    finally:
        stack.stop()
