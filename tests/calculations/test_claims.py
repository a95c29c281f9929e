import os
from datetime import timedelta

import pytest
from django.utils import timezone

from calculations.claims import Claimant, Decision, decide
from calculations.models import Calculation

NOW = timezone.now()
S = Calculation.Status


def row(**fields) -> Calculation:
    defaults = {"equation": "fibonacci", "n": 5, "status": S.PENDING, "attempts": 0}
    return Calculation(**(defaults | fields))


def running(**fields) -> Calculation:
    return row(
        **{
            "status": S.RUNNING,
            "attempts": 1,
            "started_at": NOW - timedelta(seconds=5),
            "lease_expires_at": NOW + timedelta(seconds=10),
            "worker": "other@host:1",
        }
        | fields
    )


def decision(calculation: Calculation, claimant: Claimant | None = None) -> Decision:
    return decide(calculation, now=NOW, max_attempts=3, hard_time_limit=60, claimant=claimant)


@pytest.mark.parametrize(
    ("calculation", "expected"),
    [
        (row(), Decision.RUN),
        (row(attempts=2), Decision.RUN),
        (row(attempts=3), Decision.GIVE_UP),
        (row(status=S.SUCCESS), Decision.SKIP),
        (row(status=S.ERROR), Decision.SKIP),
        (row(status=S.CANCELLED), Decision.SKIP),
        (running(), Decision.SKIP),
        (running(lease_expires_at=NOW - timedelta(seconds=1)), Decision.RUN),
        (running(lease_expires_at=None), Decision.RUN),
        (running(lease_expires_at=NOW, attempts=3), Decision.GIVE_UP),
        (running(lease_expires_at=NOW, cancel_requested_at=NOW), Decision.CANCEL),
        (
            running(lease_expires_at=NOW, started_at=NOW - timedelta(seconds=61)),
            Decision.TIME_OUT,
        ),
    ],
    ids=[
        "pending",
        "pending-retried",
        "pending-out-of-attempts",
        "success",
        "error",
        "cancelled",
        "running-lease-valid",
        "running-lease-lapsed",
        "running-no-lease",
        "lapsed-out-of-attempts",
        "lapsed-cancel-requested",
        "lapsed-past-hard-limit",
    ],
)
def test_decide_cases(calculation, expected):
    assert decision(calculation) is expected


def test_decide_runs_again_at_once_when_the_claimant_was_a_dead_process_of_this_node():
    me = Claimant(node="node@host", pid=os.getpid())
    dead_pid = 2**22 + 12345  # Above Linux's default pid_max: no such process.
    assert decision(running(worker=f"node@host:{dead_pid}"), me) is Decision.RUN


def test_decide_waits_for_the_lease_when_the_claimant_may_be_alive():
    me = Claimant(node="node@host", pid=os.getpid())
    sibling = Claimant(node="node@host", pid=os.getpid())  # Same parent: a live sibling.
    assert decision(running(worker=sibling.name), me) is Decision.SKIP
    assert decision(running(worker="elsewhere@host:1"), me) is Decision.SKIP


def test_claimant_name_joins_node_and_pid():
    assert Claimant(node="calcqueue@vm", pid=42).name == "calcqueue@vm:42"


def test_decide_judges_another_hosts_claim_by_its_lease_never_by_a_local_pid():
    # The pid of another host's process means nothing here: dead or alive locally, its
    # claim stands until the lease lapses, then any host may take it over.
    me = Claimant(node="long@hosta", pid=os.getpid())
    dead_here = 2**22 + 12345
    other_host = f"long@hostb:{dead_here}"
    assert decision(running(worker=other_host), me) is Decision.SKIP
    assert decision(running(worker=f"long@hostb:{os.getpid()}"), me) is Decision.SKIP
    lapsed = running(worker=other_host, lease_expires_at=NOW - timedelta(seconds=1))
    assert decision(lapsed, me) is Decision.RUN
