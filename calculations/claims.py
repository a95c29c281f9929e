"""Who may run a calculation now: the rules that make every delivery of a message safe.

A worker process claims a row by moving it to RUNNING with a conditional UPDATE on the
version it read, so of two concurrent deliveries only one wins. A RUNNING row's claim is
abandoned when its lease lapsed (its worker stopped renewing it) or when the claimant was a
process of this same worker node that no longer exists (killed mid-calculation).
"""

import enum
import os
from dataclasses import dataclass
from datetime import datetime, timedelta

import psutil

from calculations.models import Calculation


class Decision(enum.Enum):
    RUN = "run"
    SKIP = "skip"
    CANCEL = "cancel"
    GIVE_UP = "give up"
    TIME_OUT = "time out"


@dataclass(frozen=True)
class Claimant:
    """A worker pool process: its Celery node name and its process id."""

    node: str
    pid: int

    @property
    def name(self) -> str:
        return f"{self.node}:{self.pid}"

    def sees_dead_sibling(self, worker: str) -> bool:
        """True if `worker` names a process of this node that is no longer in its pool."""
        node, _, pid = worker.rpartition(":")
        if node != self.node or not pid.isdigit():
            return False
        try:
            return psutil.Process(int(pid)).ppid() != os.getppid()
        except psutil.NoSuchProcess:
            return True


def decide(
    calculation: Calculation,
    *,
    now: datetime,
    max_attempts: int,
    hard_time_limit: float,
    claimant: Claimant | None = None,
) -> Decision:
    status = calculation.status
    if status == Calculation.Status.PENDING:
        return Decision.RUN if calculation.attempts < max_attempts else Decision.GIVE_UP
    if status != Calculation.Status.RUNNING:
        return Decision.SKIP
    lease_lapsed = calculation.lease_expires_at is None or calculation.lease_expires_at <= now
    if not lease_lapsed and not (claimant and claimant.sees_dead_sibling(calculation.worker)):
        return Decision.SKIP
    if calculation.cancel_requested_at is not None:
        return Decision.CANCEL
    if calculation.started_at + timedelta(seconds=hard_time_limit) <= now:
        return Decision.TIME_OUT
    if calculation.attempts >= max_attempts:
        return Decision.GIVE_UP
    return Decision.RUN
