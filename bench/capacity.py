"""The capacity benchmark (`make bench-capacity`): the measured figures that docs/capacity.md
builds its arithmetic on. It asserts nothing.

    make bench-capacity                                   # SQLite + the embedded Redis
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/capacity make bench-capacity
    DATABASE_URL=... BROKER_URL=amqp://guest:guest@127.0.0.1:5672/capacity make bench-capacity

DATABASE_URL must name a database of the benchmark's own: it deletes every calculation in
it. It starts gunicorn and one short-work and one long-work worker of ONE pool process each,
so that a worker's CPU time per calculation is the cost of a calculation on one core, and:

1. worker CPU per calculation and calculations per CPU-second (= per second per core) for
   small work (10,000 calculations in chunks) and large work (F(10^7), F(10^8), p(10^8));
2. broker operations per calculation: Redis commands (INFO commandstats of the private
   embedded server) or AMQP methods (counted on the wire by a forwarder), and bytes;
3. database operations per calculation on PostgreSQL: statements, transactions, round trips
   and bytes, counted on the wire by a forwarder (the connections go without TLS for it);
4. web CPU per calculation submitted through the JSON API in batches of 1,000;
5. memory per worker process: RSS, and USS (pages not shared with the other processes);
6. this machine's ceilings: Redis (redis-benchmark), PostgreSQL (pgbench), RabbitMQ (a
   kombu loop on a quorum queue), when the tools are there.

No Celery beat runs while measuring: the sweeper's cost does not grow with the load.
"""

import os
import shutil
import subprocess
import sys
import time
import urllib.parse
from collections import Counter
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import psutil

from bench.wire import WireCounts, amqp_observer, postgres_observer

BASE_DIR = Path(__file__).resolve().parent.parent
STATE_DIR = BASE_DIR / "var" / "bench-capacity"
SMALL_COUNT = 10_000
API_BATCH = 1_000
LARGE_WORK = [("fibonacci", 10**7, 5), ("fibonacci", 10**8, 2), ("nth_prime", 10**8, 1)]


def line(label: str, value: str, note: str = "") -> None:
    print(f"  {label:<58} {value:>16}  {note}", flush=True)


class Services:
    """The broker and the database as the benchmark's processes reach them, with counters."""

    def __init__(self, stack: ExitStack) -> None:

        self.broker_wire = WireCounts()
        self.db_wire = WireCounts()
        self.redis = None
        broker = os.environ.get("BROKER_URL", "")
        if broker.startswith("amqp"):
            self.broker_kind = "RabbitMQ (quorum queues)"
            self.broker_url = self._forward(stack, broker, 5672, amqp_observer(self.broker_wire))
        else:
            from devstack.embedded_redis import EmbeddedRedis

            if broker or os.environ.get("REDIS_URL"):
                print(
                    "(the Redis broker is a private embedded server: its command counts are ours)"
                )
            server = stack.enter_context(EmbeddedRedis(STATE_DIR / "redis"))
            import redis

            self.redis = redis.Redis(unix_socket_path=str(server.socket))
            self.broker_kind = "Redis (embedded, unix socket)"
            self.broker_url = server.url
        database = os.environ.get("DATABASE_URL", "")
        self.postgres = database.startswith("postgres")
        if self.postgres:
            forwarded = self._forward(stack, database, 5432, postgres_observer(self.db_wire))
            self.database_url = forwarded + ("&" if "?" in forwarded else "?") + "sslmode=disable"
            self.database_kind = "PostgreSQL"
        else:
            self.database_url = f"sqlite:///{STATE_DIR / 'db.sqlite3'}"
            self.database_kind = "SQLite"

    @staticmethod
    def _forward(stack: ExitStack, url: str, default_port: int, observe) -> str:
        from devstack.forwarder import TcpForwarder

        parts = urllib.parse.urlsplit(url)
        forwarder = TcpForwarder("127.0.0.1", (parts.hostname, parts.port or default_port))
        forwarder.observe = observe
        stack.callback(forwarder.close)
        forwarder.start()
        credentials = parts.netloc.rpartition("@")[0]
        netloc = (f"{credentials}@" if credentials else "") + forwarder.address
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))

    def broker_counts(self) -> Counter:
        if self.redis is None:
            return self.broker_wire.snapshot()
        counts = Counter()
        for name, stats in self.redis.info("commandstats").items():
            counts[name.removeprefix("cmdstat_")] = stats["calls"]
        network = self.redis.info("stats")
        counts["bytes up"] = network["total_net_input_bytes"]
        counts["bytes down"] = network["total_net_output_bytes"]
        return counts

    def db_counts(self) -> Counter:
        return self.db_wire.snapshot()


class Processes:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.running: dict[str, subprocess.Popen] = {}

    def spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        from devstack.processes import spawn

        log = (STATE_DIR / f"{name}.log").open("wb")
        process = spawn(args, cwd=BASE_DIR, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.running[name] = process
        return process

    def worker(self, name: str, queue: str) -> None:
        self.spawn(
            name,
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "-l",
                "INFO",
                "-n",
                f"{name}@%h",
                "-Q",
                queue,
                "-c",
                "1",
                "--without-mingle",
                "--without-gossip",
            ],
        )
        deadline = time.monotonic() + 90
        while f"{name}@" not in (log := (STATE_DIR / f"{name}.log").read_text()) or (
            " ready." not in log
        ):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start:\n{log[-3000:]}")
            time.sleep(0.1)

    def tree(self, name: str) -> list[psutil.Process]:
        main = psutil.Process(self.running[name].pid)
        return [main, *main.children(recursive=True)]

    def cpu_seconds(self, name: str) -> float:
        total = 0.0
        for process in self.tree(name):
            times = process.cpu_times()
            total += times.user + times.system
        return total

    def stop_all(self) -> None:
        from devstack.processes import stop

        for name in reversed(list(self.running)):
            stop(self.running.pop(name), grace=10)


@contextmanager
def capacity_stack():
    shutil.rmtree(STATE_DIR, ignore_errors=True)
    STATE_DIR.mkdir(parents=True)
    os.environ.update(
        CALCQUEUE_STATE_DIR=str(STATE_DIR),
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="false",
        CALCQUEUE_MAX_N="fibonacci=100000000",
    )
    with ExitStack() as stack:
        services = Services(stack)
        os.environ["BROKER_URL"] = services.broker_url
        if services.redis:
            os.environ["REDIS_URL"] = services.broker_url
        # This process watches the rows directly, outside the counted connections.
        env = dict(os.environ, DATABASE_URL=services.database_url)
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        from calculations.models import Calculation

        Calculation.objects.all().delete()
        processes = Processes(env)
        stack.callback(processes.stop_all)
        port = _free_port()
        processes.spawn(
            "web",
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi",
                "--bind",
                f"127.0.0.1:{port}",
                "--worker-class",
                "gthread",
                "--workers",
                "2",
                "--threads",
                "4",
            ],
        )
        processes.worker("short", "calculations.short")
        processes.worker("long", "calculations")
        # A signed-in user's API token: an anonymous caller is bounded to a tenth of n and,
        # once its first submission gave it a session cookie, must send a CSRF token.
        from django.contrib.auth import get_user_model

        from accounts.services import api_token_create

        user, _ = get_user_model().objects.get_or_create(username="bench-capacity")
        token = api_token_create(user=user, name="bench-capacity").secret
        client = httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            timeout=120,
            headers={"Authorization": f"Bearer {token}"},
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                client.get("/api/equations").raise_for_status()
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield services, processes, client


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_final(ids: list[str], timeout: float = 900) -> float:
    """Wait until every calculation is SUCCESS; return the wall seconds from the first
    started_at to the last finished_at."""
    from django.db.models import Max, Min

    from calculations.models import Calculation

    rows = Calculation.objects.filter(pk__in=ids)
    deadline = time.monotonic() + timeout
    while rows.exclude(status__in=Calculation.FINAL_STATUSES).exists():
        assert time.monotonic() < deadline, "not final in time"
        time.sleep(0.2)
    assert set(rows.values_list("status", flat=True)) == {Calculation.Status.SUCCESS}
    span = rows.aggregate(first=Min("started_at"), last=Max("finished_at"))
    return (span["last"] - span["first"]).total_seconds()


def submit(client: httpx.Client, items: list[tuple[str, int]]) -> list[str]:
    ids = []
    for start in range(0, len(items), API_BATCH):
        batch = [{"equation": e, "n": n} for e, n in items[start : start + API_BATCH]]
        response = client.post("/api/calculations", json={"items": batch})
        assert response.status_code == 202, response.text[:300]
        ids += [item["id"] for item in response.json()["items"]]
    return ids


def measure(services, processes, client, items, worker: str) -> dict:
    """Submit `items`, wait for them, and return the deltas per calculation."""
    time.sleep(1.5)  # Let the background (heartbeats, leases) settle into the idle rate.
    broker_before, db_before = services.broker_counts(), services.db_counts()
    web_before, worker_before = processes.cpu_seconds("web"), processes.cpu_seconds(worker)
    clock = time.monotonic()
    ids = submit(client, items)
    span = wait_final(ids)
    elapsed = time.monotonic() - clock
    time.sleep(0.5)  # The last acknowledgements.
    elapsed += 0.5
    count = len(ids)
    return {
        "count": count,
        "span": span,
        "elapsed": elapsed,
        "web cpu": processes.cpu_seconds("web") - web_before,
        "worker cpu": processes.cpu_seconds(worker) - worker_before,
        "broker": _net(services.broker_counts() - broker_before, "broker", elapsed),
        "db": _net(services.db_counts() - db_before, "db", elapsed),
    }


def _net(counts: Counter, kind: str, seconds: float) -> Counter:
    """What the work itself caused: the counts less the idle rate for as long as it ran."""
    return Counter(
        {name: max(value - IDLE_RATES[kind][name] * seconds, 0) for name, value in counts.items()}
    )


def report(title: str, result: dict, services) -> None:
    count = result["count"]
    print(f"\n{title}: {count:,} calculations", flush=True)
    line("worker CPU per calculation", f"{result['worker cpu'] / count * 1000:.3f} ms")
    line(
        "calculations per CPU-second of the worker (per core)",
        f"{count / result['worker cpu']:,.1f}",
    )
    line(
        "wall: first start to last finish, 1 process",
        f"{result['span']:.2f} s",
        f"{count / result['span']:,.1f}/s",
    )
    line(
        "web CPU per calculation (API batches of 1,000)",
        f"{result['web cpu'] / count * 1000:.3f} ms",
    )
    print(f"  broker, {services.broker_kind}, per calculation, net of the idle background:")
    for name, value in sorted(result["broker"].items(), key=lambda item: -item[1]):
        if value >= count * 0.0005 and not name.startswith("bytes"):
            line(f"  {name}", f"{value / count:.3f}")
    for name in ("bytes up", "bytes down"):
        line(f"  {name}", f"{result['broker'][name] / count:,.0f}")
    if services.postgres:
        print("  database, PostgreSQL, per calculation, all clients (web and workers):")
        for name in ("statements", "transactions", "round trips", "bytes up", "bytes down"):
            line(f"  {name}", f"{result['db'][name] / count:,.2f}")


IDLE_RATES: dict[str, Counter] = {"broker": Counter(), "db": Counter()}


def report_idle(services, processes, seconds: float = 10) -> None:
    """Measure the traffic that flows without any work (worker heartbeat events, their
    consumers' polls), which measure() then subtracts for the time it ran."""
    broker_before, db_before = services.broker_counts(), services.db_counts()
    cpu_before = {name: processes.cpu_seconds(name) for name in ("short", "long", "web")}
    time.sleep(seconds)
    broker = services.broker_counts() - broker_before
    db = services.db_counts() - db_before
    IDLE_RATES["broker"] = Counter({k: v / seconds for k, v in broker.items()})
    IDLE_RATES["db"] = Counter({k: v / seconds for k, v in db.items()})
    print(f"\nIdle background, {seconds:g} s, two workers and the web server:")
    ops = sum(value for name, value in broker.items() if not name.startswith("bytes"))
    line(
        "broker operations per second",
        f"{ops / seconds:.1f}",
        ", ".join(
            f"{name} {value / seconds:.1f}"
            for name, value in broker.most_common(4)
            if not name.startswith("bytes")
        ),
    )
    if services.postgres:
        line("database statements per second", f"{db['statements'] / seconds:.1f}")
    for name, before in cpu_before.items():
        line(
            f"{name}: CPU per second idle",
            f"{(processes.cpu_seconds(name) - before) / seconds * 1000:.1f} ms",
        )


def report_memory(processes, label: str) -> None:
    print(f"\nMemory, {label}:")
    for name in ("short", "long"):
        main, *pool = processes.tree(name)
        for role, process in (("main", main), *(("pool", p) for p in pool)):
            info = process.memory_full_info()
            line(
                f"{name} worker, {role} process: RSS / USS",
                f"{info.rss / 2**20:.0f} / {info.uss / 2**20:.0f} MiB",
            )


def ceilings(services) -> None:
    print("\nCeilings of this machine (2 cores, shared):")
    redis_benchmark, pgbench = shutil.which("redis-benchmark"), shutil.which("pgbench")
    if services.redis is not None and redis_benchmark:
        socket = services.redis.connection_pool.connection_kwargs["path"]
        output = subprocess.run(
            [redis_benchmark, "-s", socket, "-q", "-n", "200000", "-t", "lpush,rpop,set"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for row in output.replace("\r", "\n").splitlines():
            if "requests per second" in row:
                name, _, rest = row.partition(":")
                line(f"Redis {name.strip()} (redis-benchmark, 50 clients)", rest.split()[0] + "/s")
    if services.postgres and pgbench:
        _pgbench(services, pgbench)
    if services.redis is None:
        _rabbitmq_loop(services)


def _pgbench(services, pgbench: str) -> None:
    parts = urllib.parse.urlsplit(os.environ["DATABASE_URL"])
    args = ["-h", parts.hostname, "-p", str(parts.port or 5432), "-U", parts.username or "postgres"]
    database = parts.path.lstrip("/")
    subprocess.run(
        [pgbench, *args, "-i", "-q", "-s", "10", database], capture_output=True, check=True
    )
    for label, extra in (
        ("single-row UPDATE + INSERT transactions", ["-N"]),
        ("SELECT by key", ["-S"]),
    ):
        output = subprocess.run(
            [pgbench, *args, "-n", "-c", "8", "-j", "2", "-T", "10", *extra, database],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        tps = next(row for row in output.splitlines() if row.startswith("tps"))
        line(f"PostgreSQL {label} (pgbench, 8 clients)", f"{float(tps.split()[2]):,.0f}/s")
    subprocess.run([pgbench, *args, "-i", "-I", "d", database], capture_output=True, check=True)


def _rabbitmq_loop(services, count: int = 5000) -> None:
    from kombu import Connection, Exchange, Queue

    queue = Queue(
        "capacity-probe",
        Exchange("capacity-probe", type="direct"),
        "probe",
        queue_arguments={"x-queue-type": "quorum"},
    )
    with Connection(os.environ["BROKER_URL"], transport_options={"confirm_publish": True}) as conn:
        channel = conn.channel()
        bound = queue(channel)
        bound.declare()
        bound.purge()
        producer = conn.Producer(channel)
        clock = time.monotonic()
        for index in range(count):
            producer.publish({"i": index}, exchange=queue.exchange, routing_key="probe")
        published = time.monotonic() - clock
        received = 0

        def on_message(body, message) -> None:
            nonlocal received
            received += 1
            message.ack()

        clock = time.monotonic()
        with conn.Consumer([queue], callbacks=[on_message], prefetch_count=100):
            while received < count:
                conn.drain_events(timeout=10)
        consumed = time.monotonic() - clock
        bound.delete()
    line("RabbitMQ quorum publish, confirmed one by one (1 client)", f"{count / published:,.0f}/s")
    line("RabbitMQ quorum deliver + ack, prefetch 100 (1 client)", f"{count / consumed:,.0f}/s")


def main() -> None:
    with capacity_stack() as (services, processes, client):
        print(
            f"calcqueue capacity: {services.database_kind}, {services.broker_kind}; "
            f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start"
        )
        report_memory(processes, "idle")
        report_idle(services, processes)
        small = [("fibonacci", n % 2000) for n in range(SMALL_COUNT)]
        report(
            "Small work, short-work chunks: F(n), n < 2,000",
            measure(services, processes, client, small, "short"),
            services,
        )
        for equation, n, copies in LARGE_WORK:
            result = measure(services, processes, client, [(equation, n)] * copies, "long")
            report(f"Large work: {equation}({n:.0e})", result, services)
        report_memory(processes, "after the large work")
        ceilings(services)
        print(f"\nload average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
