"""Database connections are bounded: one persistent connection per thread that queries
(a worker pool process, a worker's lease keeper, a web server thread), whatever the load.
Counted in PostgreSQL's pg_stat_activity, by the application name each process sets."""

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from django.conf import settings
from django.db import connection

from calculations.models import Calculation
from devstack.processes import spawn, stop
from tests.conftest import BASE_DIR, start_worker
from tests.drills.conftest import _REPORTS, DrillReport, _free_port, wait_all_final

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

WEB_WORKERS, WEB_THREADS = 2, 4  # bench/system.py's gunicorn
ACTIVE = [Calculation.Status.PENDING, Calculation.Status.RUNNING]


def sessions_by_application() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT application_name, count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name LIKE 'calcqueue-%%' "
            "GROUP BY application_name"
        )
        return dict(cursor.fetchall())


def test_database_connections_per_process_stay_bounded_under_load(drill_stack, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("counts PostgreSQL sessions; SQLite has no connections to count")
    report = DrillReport("12. DB connections, 12 + 2 processes + web")
    env = {k: v for k, v in drill_stack.env.items() if k.startswith("CALCQUEUE_")}
    env |= drill_stack.broker.env()
    started = time.monotonic()
    workers = [
        start_worker(
            log_dir=tmp_path,
            concurrency=concurrency,
            queues=[queue],
            extra_env=env | {"PGAPPNAME": f"calcqueue-{role}"},
            wait=False,
        )
        for role, queue, concurrency in (
            ("long", settings.CALCQUEUE_LONG_QUEUE, 12),
            ("short", settings.CALCQUEUE_SHORT_QUEUE, 2),
        )
    ]
    drill_stack.workers += workers
    port = _free_port()
    with (tmp_path / "gunicorn.log").open("wb") as log:
        web = spawn(
            [
                *(sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}"),
                *("--worker-class", "gthread", "--workers", str(WEB_WORKERS)),
                *("--threads", str(WEB_THREADS)),
            ],
            cwd=BASE_DIR,
            env=drill_stack.env | {"PGAPPNAME": "calcqueue-web"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        for worker in workers:
            worker.wait_ready()
        api = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
        deadline = time.monotonic() + 60
        while True:
            try:
                api.get("/api/equations")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and web.poll() is None, "gunicorn did not start"
                time.sleep(0.2)
        # Enough long work to occupy all 12 processes twice, short work in 10 chunks, and
        # web requests from more clients than the server has threads.
        items = [{"equation": "fibonacci", "n": 10**7}] * 24 + [
            {"equation": "fibonacci", "n": n} for n in range(976)
        ]
        assert api.post("/api/calculations", json={"items": items}).status_code == 202
        peak: dict[str, int] = {}

        def browse(index: int) -> int:
            return api.get("/api/calculations", params={"limit": 100}).status_code

        with ThreadPoolExecutor(16) as clients:
            while Calculation.objects.filter(status__in=ACTIVE).exists():
                assert set(clients.map(browse, range(32))) == {200}
                for name, count in sessions_by_application().items():
                    peak[name] = max(peak.get(name, 0), count)
        wait_all_final(timeout=120)
        for name, count in sessions_by_application().items():
            peak[name] = max(peak.get(name, 0), count)
    finally:
        stop(web, grace=5)
    report.seconds = time.monotonic() - started
    report.accepted = report.succeeded = len(items)
    report.notes.append(
        "peak PostgreSQL sessions: "
        + ", ".join(f"{name} {count}" for name, count in sorted(peak.items()))
        + f" = {sum(peak.values())} in all (bounds: long 12 + 1, short 2 + 1, web "
        f"{WEB_WORKERS} x {WEB_THREADS})"
    )
    _REPORTS.append(report)
    assert peak.get("calcqueue-long", 0) <= 12 + 1
    assert peak.get("calcqueue-short", 0) <= 2 + 1
    assert peak.get("calcqueue-web", 0) <= WEB_WORKERS * WEB_THREADS
    assert peak.get("calcqueue-long", 0) >= 12, "the load did not reach every long process"
