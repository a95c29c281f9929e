"""Several worker hosts on one broker and one database: two hosts, each with a long-work and
a short-work worker as `make run` starts them, share a mixed workload; one host is killed
(every process at once, kill -9) or cut off from the network mid-run. Every calculation must
end SUCCESS and exact, and the survivor must finish the work (hosts.py says how the hosts
are made)."""

import functools
import time
from collections import Counter

import gmpy2
import pytest
from django.db import connection

from calculations.models import Calculation
from tests.conftest import _database_url, start_worker
from tests.drills.conftest import _REPORTS, DrillReport, fibonacci_digits, wait_all_final
from tests.drills.hosts import WorkerHost, namespaces_unavailable, remove_leftovers

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

P_10_7 = 179_424_673  # OEIS A006988
LONG_WORK = [
    *[("fibonacci", 10**7)] * 3,
    *[("fibonacci", 3 * 10**7)] * 3,
    *[("fibonacci", 10**8)] * 2,
    *[("nth_prime", 10**7 + k) for k in range(3)],
]
SHORT_WORK = [("fibonacci", n) for n in range(1500)]
# A partitioned host's transaction must not hold row locks for long (settings.py).
HOST_ENV = {"DATABASE_IDLE_IN_TRANSACTION_TIMEOUT": "5"}


@functools.cache
def nth_prime_expected(n: int) -> int:
    prime = gmpy2.mpz(P_10_7)
    for _ in range(n - 10**7):
        prime = gmpy2.next_prime(prime)
    return int(prime)


def expected_digits(equation: str, n: int) -> str:
    if equation == "fibonacci":
        return fibonacci_digits(n)
    return str(nth_prime_expected(n))


@pytest.fixture
def worker_hosts(drill_stack):
    why_not = namespaces_unavailable()
    if not why_not:
        remove_leftovers()
    hosts = [WorkerHost(letter, isolated=not why_not).create() for letter in "ab"]
    try:
        yield hosts, why_not
    finally:
        for host in hosts:
            host.destroy()


def start_host(stack, host: WorkerHost) -> list:
    """A long-work and a short-work worker on `host`, reaching the services from there."""
    from django.conf import settings

    env = {k: v for k, v in stack.env.items() if k.startswith("CALCQUEUE_")} | HOST_ENV
    env |= {
        "DATABASE_URL": host.reach(_database_url()),
        "BROKER_URL": host.reach(stack.broker.direct_url),
        "REDIS_URL": host.reach(
            settings.REDIS_URL if stack.broker.is_rabbitmq else stack.broker.direct_url
        ),
    }
    workers = [
        start_worker(
            log_dir=stack.log_dir,
            concurrency=concurrency,
            queues=[queue],
            hostname=f"{role}@{host.name}",
            command_prefix=host.command_prefix,
            extra_env=env,
            wait=False,
        )
        for role, queue, concurrency in (
            ("long", settings.CALCQUEUE_LONG_QUEUE, 2),
            ("short", settings.CALCQUEUE_SHORT_QUEUE, 1),
        )
    ]
    host.processes += [worker.process for worker in workers]
    stack.workers += workers
    return workers


def submit_all(stack) -> int:
    items = [{"equation": e, "n": n} for e, n in LONG_WORK + SHORT_WORK]
    for start in range(0, len(items), 1000):
        response = stack.http.post("/api/calculations", json={"items": items[start : start + 1000]})
        assert response.status_code == 202, response.text[:500]
    return len(items)


def host_of(worker: str) -> str:
    return worker.partition("@")[2].partition(":")[0]


def wait_until_both_hosts_work(victim: WorkerHost, timeout: float = 120) -> None:
    """Until the victim is mid-way through long work and both hosts have finished some."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = Calculation.objects.exclude(worker="").values_list("status", "worker", "n")
        finished = {host_of(w) for s, w, _ in rows if s == Calculation.Status.SUCCESS}
        long_running = [w for s, w, n in rows if s == Calculation.Status.RUNNING and n >= 3 * 10**7]
        if {"hosta", "hostb"} <= finished and any(host_of(w) == victim.name for w in long_running):
            return
        time.sleep(0.05)
    raise AssertionError("the hosts did not both start working in time")


def still_running_on(host: WorkerHost) -> set:
    """The calculations the host's fault interrupted: RUNNING on it once a write it sent
    just before the fault has had time to land."""
    time.sleep(0.5)
    return set(
        Calculation.objects.filter(
            status=Calculation.Status.RUNNING, worker__contains=f"@{host.name}:"
        ).values_list("pk", flat=True)
    )


def settle(report: DrillReport, stack, *, accepted: int, hosts, lost_work) -> None:
    victim, survivor = hosts
    rows = list(Calculation.objects.select_related("output"))
    report.accepted = accepted
    statuses = Counter(row.status for row in rows)
    report.succeeded = statuses[Calculation.Status.SUCCESS]
    report.failed = statuses[Calculation.Status.ERROR]
    report.cancelled = statuses[Calculation.Status.CANCELLED]
    report.lost = accepted - report.succeeded - report.failed - report.cancelled
    logs = stack.worker_logs()
    stored = Counter(
        line.split("calculation id=")[1].split()[0]
        for line in logs.splitlines()
        # A result refused by its lost claim logs "status=SUCCESS not stored: claim lost".
        if "calculation id=" in line and " status=SUCCESS duration=" in line
    )
    report.duplicates = sum(count - 1 for count in stored.values() if count > 1)
    for row in rows:
        assert row.status == Calculation.Status.SUCCESS, (row.equation, row.n, row.error)
        assert row.output.digits == expected_digits(row.equation, row.n), (row.equation, row.n)
    by_host = Counter(host_of(row.worker) for row in rows)
    long_by_host = Counter(host_of(row.worker) for row in rows if row.n >= 10**7)
    rescued = [row for row in rows if row.pk in lost_work]
    report.notes += [
        "final results by host: "
        + ", ".join(
            f"{host} {by_host[host]} ({long_by_host[host]} long)" for host in sorted(by_host)
        ),
        f"{len(rescued)} calculation(s) RUNNING on {victim.name} at the fault, all finished "
        f"by {sorted({host_of(row.worker) for row in rescued})} "
        f"(attempts {sorted({row.attempts for row in rescued})})",
    ]
    _REPORTS.append(report)
    assert report.lost == 0 and report.duplicates == 0
    assert all(host_of(row.worker) == survivor.name for row in rescued)


def describe(hosts, why_not: str) -> str:
    if why_not:
        return (
            f"no network namespaces ({why_not}): the hosts are separate processes with "
            "distinct node names on this machine's network"
        )
    addresses = ", ".join(f"{host.name} {host.address} (netns {host.namespace})" for host in hosts)
    shared = (
        "; SQLite and the embedded Redis are reached through the shared filesystem"
        if connection.vendor == "sqlite"
        else ""
    )
    return f"hosts in network namespaces: {addresses}{shared}"


def test_drill_10_a_whole_worker_host_killed_mid_run(drill_stack, worker_hosts):
    hosts, why_not = worker_hosts
    victim = hosts[0]
    report = DrillReport("10. kill -9 a whole host of 2 mid-run")
    started = time.monotonic()
    for worker in [w for host in hosts for w in start_host(drill_stack, host)]:
        worker.wait_ready()
    accepted = submit_all(drill_stack)
    wait_until_both_hosts_work(victim)
    killed = victim.kill()
    killed_at = time.monotonic()
    running = still_running_on(victim)
    report.seconds = time.monotonic() - started + wait_all_final(timeout=240)
    report.notes.append(describe(hosts, why_not))
    report.notes.append(
        f"{killed} processes of {victim.name} killed at once; all final "
        f"{time.monotonic() - killed_at:.1f} s later"
    )
    settle(report, drill_stack, accepted=accepted, hosts=hosts, lost_work=running)
    assert running, "nothing was running on the killed host"


def test_drill_11_a_worker_host_cut_off_from_the_network_mid_run(drill_stack, worker_hosts):
    hosts, why_not = worker_hosts
    if why_not:
        pytest.skip(f"cutting a host's network needs network namespaces: {why_not}")
    if connection.vendor == "sqlite" or not drill_stack.broker.direct_url.startswith(
        ("redis://", "amqp://")
    ):
        pytest.skip(
            "SQLite and the embedded Redis are reached through the filesystem, which a "
            "network namespace does not separate: there is no network to cut"
        )
    victim = hosts[0]
    report = DrillReport("11. a host of 2 cut off the network mid-run")
    started = time.monotonic()
    for worker in [w for host in hosts for w in start_host(drill_stack, host)]:
        worker.wait_ready()
    accepted = submit_all(drill_stack)
    wait_until_both_hosts_work(victim)
    victim.cut()
    cut_at = time.monotonic()
    running = still_running_on(victim)
    report.seconds = time.monotonic() - started + wait_all_final(timeout=240)
    finished_seconds = time.monotonic() - cut_at

    # The network comes back: whatever the cut-off host still computed must change nothing.
    before = sorted(Calculation.objects.values_list("pk", "status", "worker", "finished_at"))
    victim.heal()
    time.sleep(5)
    after = sorted(Calculation.objects.values_list("pk", "status", "worker", "finished_at"))
    refused = sum(w.log().count("not stored: claim lost") for w in drill_stack.workers)
    report.notes.append(describe(hosts, why_not))
    report.notes.append(
        f"{victim.name}'s link down: all final {finished_seconds:.1f} s later; after the link "
        f"came back, {refused} late result(s) of {victim.name} refused (claim lost), rows "
        f"unchanged: {before == after}"
    )
    settle(report, drill_stack, accepted=accepted, hosts=hosts, lost_work=running)
    assert before == after
    assert running, "nothing was running on the cut-off host"
