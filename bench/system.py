"""The system benchmark (`make bench`): calcqueue end to end, each figure next to a baseline
measured in the same run and printed as a ratio. It asserts nothing; the figures go in notes.

    make bench                      # about 5 minutes: SQLite and the embedded Redis
    make bench BENCH_ARGS=--quick   # smaller inputs, about a minute

It starts its own stack under var/bench/ (a fresh SQLite database, the embedded Redis, the
long-work and short-work workers as `make run` starts them, the web server), so it never
touches the development database. Sections: maths, the article's demo, throughput, latency,
pages at a million rows, memory.
"""

import argparse
import logging
import os
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from pathlib import Path

import gmpy2
import httpx
import psutil
import redis

from calculations.events import CHANNEL_PREFIX

BASE_DIR = Path(__file__).resolve().parent.parent
STATE_DIR = BASE_DIR / "var" / "bench"
LONG_WORKER_CONCURRENCY = 12


class Table:
    def __init__(self) -> None:
        print(f"{'measure':<52} {'calcqueue':>12} {'baseline':>12} {'ratio':>7}  baseline is")
        print("-" * 110)

    def section(self, title: str) -> None:
        print(f"\n{title}", flush=True)

    def row(
        self,
        measure: str,
        value: str,
        baseline: str = "",
        ratio: float | None = None,
        what: str = "",
    ) -> None:
        shown = f"{ratio:.2f}×" if ratio is not None else ""
        print(f"  {measure:<50} {value:>12} {baseline:>12} {shown:>7}  {what}", flush=True)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 10 else f"{seconds:.1f} s"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class Stack:
    """The processes `make run` starts, on the benchmark's own state directory."""

    def __init__(self, env: dict[str, str], port: int) -> None:
        self.env, self.url = env, f"http://127.0.0.1:{port}"
        self.port = port
        self.processes: dict[str, subprocess.Popen] = {}

    def spawn(self, name: str, args: list[str], **env: str) -> subprocess.Popen:
        from devstack.processes import spawn

        log = (STATE_DIR / f"{name}.log").open("wb")
        process = spawn(
            args, cwd=BASE_DIR, env={**self.env, **env}, stdout=log, stderr=subprocess.STDOUT
        )
        self.processes[name] = process
        return process

    def start_worker(self, name: str, app: str, queue: str, concurrency: int, **env: str) -> None:
        self.spawn(
            name,
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                app,
                "worker",
                "-l",
                "WARNING",
                "-n",
                f"{name}@%h",
                "-Q",
                queue,
                "-c",
                str(concurrency),
                "--without-mingle",
                "--without-gossip",
            ],
            **env,
        )
        # At WARNING the worker prints nothing when ready: wait for its pool to be up.
        deadline = time.monotonic() + 60
        while len(self.pool(name)) < concurrency:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{name} did not start: {(STATE_DIR / f'{name}.log').read_text()}"
                )
            time.sleep(0.1)
        time.sleep(1)  # The pool is forked before the consumer connects.

    def pool(self, name: str) -> list[psutil.Process]:
        return psutil.Process(self.processes[name].pid).children()

    def start(self) -> "Stack":
        from django.conf import settings

        self.start_worker(
            "long",
            "config",
            settings.CALCQUEUE_LONG_QUEUE,
            LONG_WORKER_CONCURRENCY,
            CALCQUEUE_WORKER_NICE="10",
        )
        self.start_worker(
            "short",
            "config",
            settings.CALCQUEUE_SHORT_QUEUE,
            settings.CALCQUEUE_SHORT_WORKER_CONCURRENCY,
        )
        # Gunicorn, as in production: Django's runserver stalls ~40 ms a response on delayed
        # ACKs, which would swamp every figure here.
        self.spawn(
            "web",
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--worker-class",
                "gthread",
                "--workers",
                "2",
                "--threads",
                "4",
            ],
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(self.url + "/", timeout=2)
                return self
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self, name: str | None = None) -> None:
        from devstack.processes import stop

        for key in [name] if name else reversed(list(self.processes)):
            stop(self.processes.pop(key), grace=10)


class Client:
    """Submits through the JSON API as a user's program would (with an API token) and opens
    the pages with the same user's session. Round trips wait for results with the API's long
    poll; the throughput run watches its 10,000 rows instead (finished_at, stamped by the
    worker, ends its interval)."""

    def __init__(self, url: str, user) -> None:
        from django.conf import settings
        from django.test import Client as SessionMaker

        from accounts.services import api_token_create

        self.user = user
        cache = settings.CACHES["default"]
        announcer = redis.Redis.from_url(cache["LOCATION"], **cache["OPTIONS"])
        self.announcements = announcer.pubsub(ignore_subscribe_messages=True)
        self.announcements.psubscribe(f"{CHANNEL_PREFIX}*")
        session = SessionMaker()
        session.force_login(user)
        self.http = httpx.Client(
            base_url=url,
            timeout=60,
            headers={"Authorization": f"Bearer {api_token_create(user=user, name='bench').secret}"},
            cookies={
                settings.SESSION_COOKIE_NAME: session.cookies[settings.SESSION_COOKIE_NAME].value
            },
        )

    def submit(self, equation: str, inputs: list[int]) -> list[str]:
        items = [{"equation": equation, "n": n} for n in inputs]
        response = self.http.post("/api/calculations", json={"items": items})
        assert response.status_code == 202, response.text[:500]
        return [item["id"] for item in response.json()["items"]]

    @staticmethod
    def wait(ids: list[str], *, poll: float = 0.001, timeout: float = 600) -> float:
        """Wait until every calculation is final; return the latest finished_at (epoch s)."""
        from calculations.models import Calculation

        rows = Calculation.objects.filter(pk__in=ids)
        deadline = time.monotonic() + timeout
        while rows.exclude(status__in=Calculation.FINAL_STATUSES).exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"not final after {timeout} s")
            time.sleep(poll)
        statuses = set(rows.values_list("status", flat=True))
        assert statuses == {Calculation.Status.SUCCESS}, statuses
        return max(rows.values_list("finished_at", flat=True)).timestamp()

    def computed(self, equation: str, n: int) -> str:
        """Submit one calculation and return its id once it is final (the API's long poll)."""
        (calculation_id,) = self.submit(equation, [n])
        url = f"/api/calculations/{calculation_id}"
        while self.http.get(url, params={"wait": 30}).json()["status"] in {"PENDING", "RUNNING"}:
            pass
        return calculation_id

    def round_trip(self, equation: str, inputs: list[int]) -> float:
        """Seconds from sending the submission until every result is stored: the moment its
        final status is announced after commit (calculations/events.py), which this client
        hears on a pattern subscription made before it submits. Nothing polls, so measuring
        takes no CPU from the system measured."""
        from calculations.models import Calculation

        started = time.perf_counter()
        self.last_started_at = time.time()
        ids = self.submit(equation, inputs)
        waiting, deadline = set(ids), time.monotonic() + 600
        while waiting:
            # None: nothing yet, or the subscription's own confirmation.
            message = self.announcements.get_message(timeout=deadline - time.monotonic())
            if message is not None:
                waiting.discard(message["channel"].decode().removeprefix(CHANNEL_PREFIX))
            elif time.monotonic() > deadline:
                raise TimeoutError(f"no result for {waiting} after 600 s")
        elapsed = time.perf_counter() - started
        statuses = set(Calculation.objects.filter(pk__in=ids).values_list("status", flat=True))
        assert statuses == {Calculation.Status.SUCCESS}, statuses
        return elapsed


def bench_maths(table: Table, client: Client, powers: list[int]) -> None:
    from calculations.models import Calculation, CalculationOutput

    table.section("1. Maths: F(n) submitted over HTTP until SUCCESS with the digits stored")
    for power in powers:
        n = 10**power
        repeats = 3 if power < 8 else 1
        gmp = min(_timed(lambda n=n: gmpy2.fib(n).digits()) for _ in range(repeats))
        runs = []
        for _ in range(repeats):
            seconds = client.round_trip("fibonacci", [n])
            row = Calculation.objects.filter(n=n).latest("created_at")
            runs.append((seconds, _phases(row, client.last_started_at, seconds)))
        system, phases = min(runs)
        digits = CalculationOutput.objects.filter(calculation__n=n).first().digits
        assert digits == gmpy2.fib(n).digits(), f"F({n}) stored wrong"
        table.row(
            f"F(10^{power}) end to end, exact ({len(digits):,} digits)",
            ms(system),
            ms(gmp),
            system / gmp,
            "gmpy2.fib + digits() in-process",
        )
        table.row("  " + phases, "")


def _phases(row, started_at: float, seconds: float) -> str:
    """Where a round trip's time went, from the row's own timestamps: the web process stamps
    created_at before its INSERT, the claim started_at, the end of the maths finished_at."""
    marks = [
        row.created_at.timestamp() - started_at,
        row.started_at.timestamp() - started_at,
        row.finished_at.timestamp() - started_at,
        seconds,
    ]
    web, queue, maths, store = (b - a for a, b in zip([0.0, *marks], marks, strict=False))
    return (
        f"web {web * 1000:.1f} + commit, queue, claim {queue * 1000:.1f} + maths "
        f"{maths * 1000:.1f} + store, announce {store * 1000:.1f} ms"
    )


def _timed(function: Callable) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def bench_demo(table: Table, client: Client) -> None:
    table.section("2. The article's demo: 39, 4, 6, 32 submitted together")
    walls = [client.round_trip("fibonacci", [39, 4, 6, 32]) for _ in range(7)]
    table.row(
        "wall time to all SUCCESS (median of 7)",
        ms(statistics.median(walls)),
        "18 s",
        statistics.median(walls) / 18,
        "the article's sample app",
    )


def bench_throughput(table: Table, stack: Stack, client: Client, count: int) -> None:
    from django.conf import settings

    from bench import noop_app

    table.section(
        f"3. Throughput: {count:,} small calculations, submitted through the API in batches of "
        f"{settings.CALCQUEUE_API_MAX_BATCH}"
    )
    stack.start_worker("noop", "bench.noop_app", "noop", LONG_WORKER_CONCURRENCY)
    counter = redis.Redis.from_url(noop_app.REDIS_URL)
    counter.delete(noop_app.COUNTER)
    started = time.monotonic()
    with noop_app.app.producer_or_acquire() as producer:
        for _ in range(count):
            noop_app.noop.apply_async(producer=producer)
    while int(counter.get(noop_app.COUNTER) or 0) < count:
        time.sleep(0.001)
    noop_rate = count / (time.monotonic() - started)
    stack.stop("noop")

    batch = settings.CALCQUEUE_API_MAX_BATCH
    inputs = [1 + index % 1000 for index in range(count)]
    started = time.time()
    ids = []
    for start in range(0, count, batch):
        ids += client.submit("fibonacci", inputs[start : start + batch])
    submitted = time.time() - started
    finished = client.wait(ids, poll=0.01)
    rate = count / (finished - started)
    table.row(
        "calculations per second, all SUCCESS, 0 lost",
        f"{rate:,.0f}/s",
        f"{noop_rate:,.0f}/s",
        rate / noop_rate,
        "raw Celery no-op tasks, same worker settings, 12 processes",
    )
    table.row("  of which submitting over HTTP", ms(submitted))


def bench_latency(table: Table, stack: Stack, client: Client, count: int) -> None:

    from bench import noop_app

    table.section(f"4. Latency: submit → SUCCESS of F(30), {count} in a row")
    stack.start_worker("noop", "bench.noop_app", "noop", LONG_WORKER_CONCURRENCY)
    pings = redis.Redis.from_url(noop_app.REDIS_URL)
    pings.delete(noop_app.PINGS)
    raw = []
    for _ in range(count):
        started = time.time()
        noop_app.ping.delay()
        _, done = pings.blpop([noop_app.PINGS])
        raw.append(float(done) - started)
    stack.stop("noop")
    idle = [client.round_trip("fibonacci", [30]) for _ in range(count)]
    for label, fraction in (("p50", 0.5), ("p99", 0.99)):
        table.row(
            f"idle, {label}",
            ms(percentile(idle, fraction)),
            ms(percentile(raw, fraction)),
            percentile(idle, fraction) / percentile(raw, fraction),
            "raw Celery round trip (no-op, no result backend)",
        )

    long_ids = client.submit("fibonacci", [50_000_000] * 24)
    busy = [client.round_trip("fibonacci", [30]) for _ in range(count)]
    from calculations.models import Calculation

    still_running = Calculation.objects.filter(pk__in=long_ids, status="RUNNING").count()
    for label, fraction in (("p50", 0.5), ("p99", 0.99)):
        table.row(
            f"while 24 long calculations run, {label}",
            ms(percentile(busy, fraction)),
            ms(percentile(idle, fraction)),
            percentile(busy, fraction) / percentile(idle, fraction),
            "idle calcqueue",
        )
    table.row("  long calculations still running at the end", str(still_running))
    Client.wait(long_ids, poll=0.05)


def bench_pages(table: Table, client: Client, rows: int) -> None:
    table.section(f"5. Pages with {rows:,} calculations in the database")
    started = time.monotonic()
    _bulk_create(rows, client.user)
    table.row(f"bulk-creating {rows:,} rows", ms(time.monotonic() - started))
    large = client.computed("fibonacci", 10**7)
    pages = {
        "list page, newest first": "/",
        "list page, 100th page (keyset cursor)": _deep_page(client, 100),
        "detail page of F(10^7), 2,089,877 digits": f"/calculations/{large}/",
        "API list, newest first": "/api/calculations",
        "API list, SUCCESS only": "/api/calculations?status=SUCCESS",
    }
    for label, url in pages.items():
        _time_page(table, client, label, url)
    _time_operations(table, client, "")
    # The rows above finished one a second, 3,600 of them in the last hour; a busy hour:
    started = time.monotonic()
    _bulk_create(100_000, client.user, spread_seconds=3600)
    table.row("busy hour: 100,000 more, finished in the last hour", ms(time.monotonic() - started))
    _time_operations(table, client, ", busy hour")


def _time_page(table: Table, client: Client, label: str, url: str, **headers: str) -> None:
    timings = []
    for _ in range(100):
        started = time.perf_counter()
        response = client.http.get(url, headers=headers)
        timings.append(time.perf_counter() - started)
        assert response.status_code == 200, (url, response.status_code)
    table.row(f"{label}, p50", ms(percentile(timings, 0.5)))
    table.row(f"{label}, p95", ms(percentile(timings, 0.95)))


def _time_operations(table: Table, client: Client, rows: str) -> None:
    """The dashboard as opened and as it polls itself (by a staff member: it is staff only),
    and a Prometheus scrape. The minute counts are timed in this process: a web process pays
    them once, then counts two minutes."""
    from django.contrib.auth import get_user_model

    from monitoring.selectors import calculations_finished_per_minute
    from tests.conftest import clear_cache

    operator, _ = get_user_model().objects.get_or_create(
        username="bench-operator", defaults={"is_staff": True}
    )
    client = Client(str(client.http.base_url), operator)

    clear_cache()  # Not cache.clear(): that is FLUSHDB on the broker's Redis.
    started = time.perf_counter()
    calculations_finished_per_minute()
    table.row(f"dashboard's minute counts, empty cache{rows}", ms(time.perf_counter() - started))
    _time_page(table, client, f"dashboard{rows}", "/dashboard/")
    htmx = {"HX-Request": "true"}
    _time_page(table, client, f"dashboard, htmx update{rows}", "/dashboard/", **htmx)
    _time_page(table, client, f"/metrics scrape{rows}", "/metrics")


def _deep_page(client: Client, page: int) -> str:
    import re

    url = "/"
    for _ in range(page - 1):
        found = re.search(r'href="(\?[^"]*after=[^"]+)"', client.http.get(url).text)
        # The pages exist (a million rows): a missing link is a broken pager, not the end.
        assert found, f"no link to the next page on {url}"
        url = "/" + found.group(1).replace("&amp;", "&")
    return url


def _bulk_create(count: int, owner, spread_seconds: int | None = None) -> None:
    """`count` SUCCESS rows of `owner`, one finished a second back from now (or `count` spread
    evenly over the last `spread_seconds`), with the prepared INSERT submissions use."""
    from django.db import transaction
    from django.utils import timezone

    from calculations import bulk
    from calculations.models import Calculation

    now = timezone.now()
    step = (spread_seconds or count) / count
    batch = 10_000
    for start in range(0, count, batch):
        rows = []
        for index in range(start, min(start + batch, count)):
            at = now - timedelta(seconds=(count - index) * step)
            rows.append(
                Calculation(
                    id=uuid.uuid4(),
                    equation="fibonacci",
                    n=index,
                    status=Calculation.Status.SUCCESS,
                    created_at=at,
                    enqueued_at=at,
                    started_at=at,
                    finished_at=at,
                    attempts=1,
                    progress=1.0,
                    output_digits=1,
                    output_head="1",
                    worker="bench@host:1",
                    owner=owner,
                )
            )
        with transaction.atomic():
            bulk.insert_rows(rows)


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def bench_memory(table: Table, stack: Stack, label: str) -> None:
    pool = stack.pool("long")
    rss = [process.memory_info().rss for process in pool]
    main = psutil.Process(stack.processes["long"].pid).memory_info().rss
    table.row(f"{label}: worker main process", f"{main / 2**20:.0f} MiB")
    table.row(
        f"{label}: pool process, largest / smallest",
        f"{max(rss) / 2**20:.0f} / {min(rss) / 2**20:.0f} MiB",
    )
    table.row(
        f"{label}: whole worker ({len(pool)} + 1 processes)", f"{(main + sum(rss)) / 2**20:.0f} MiB"
    )


@contextmanager
def bench_stack() -> Iterator[tuple[Stack, Client]]:
    shutil.rmtree(STATE_DIR, ignore_errors=True)
    STATE_DIR.mkdir(parents=True)
    os.environ.update(
        CALCQUEUE_STATE_DIR=str(STATE_DIR),
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="false",
        CALCQUEUE_MAX_N="fibonacci=100000000",
        # The benchmark measures the work, not its admission: one user submits as fast as
        # the system takes it.
        CALCQUEUE_RATE_LIMIT_SIGNED_IN="off",
        CALCQUEUE_BACKPRESSURE_MAX_UNFINISHED="0",
        CALCQUEUE_BACKPRESSURE_MAX_WAIT_SECONDS="0",
    )
    with ExitStack() as stack:
        from devstack.embedded_redis import EmbeddedRedis

        if not os.environ.get("REDIS_URL"):
            os.environ["REDIS_URL"] = stack.enter_context(EmbeddedRedis(STATE_DIR / "redis")).url
        os.environ["BENCH_NOOP_BROKER_URL"] = os.environ["REDIS_URL"]
        import django

        django.setup()
        logging.getLogger("httpx").setLevel(logging.WARNING)
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        from django.contrib.auth import get_user_model

        from calculations.models import Calculation

        Calculation.objects.all().delete()
        user, _ = get_user_model().objects.get_or_create(username="bench")
        system = Stack(dict(os.environ), _free_port())
        stack.callback(system.stop)
        yield system.start(), Client(system.url, user)


SECTIONS = ("maths", "demo", "throughput", "latency", "pages")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller inputs, about a minute")
    parser.add_argument(
        "--only",
        action="append",
        choices=SECTIONS,
        help="run this section (repeatable; memory comes with maths); default: all",
    )
    arguments = parser.parse_args()
    quick, sections = arguments.quick, set(arguments.only or SECTIONS)
    with bench_stack() as (stack, client):
        table = Table()
        if "maths" in sections:
            table.section("6. Memory (RSS of the long-work worker)")
            bench_memory(table, stack, "idle")
            bench_maths(table, client, [5, 6, 7] if quick else [5, 6, 7, 8])
            table.section("6. Memory, after the maths")
            bench_memory(table, stack, "after F(10^8)" if not quick else "after F(10^7)")
        if "demo" in sections:
            bench_demo(table, client)
        if "throughput" in sections:
            bench_throughput(table, stack, client, 2_000 if quick else 10_000)
        if "latency" in sections:
            bench_latency(table, stack, client, 100 if quick else 500)
        if "pages" in sections:
            bench_pages(table, client, 100_000 if quick else 1_000_000)


if __name__ == "__main__":
    main()
