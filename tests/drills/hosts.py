"""Worker hosts on one machine, for the multi-host drills.

As root with iproute2, each host is a network namespace of its own (`ip netns add`), joined
to this machine by a veth pair: it has its own address (10.77.N.2) and reaches PostgreSQL,
Redis and RabbitMQ, which listen on 127.0.0.1 only, through TCP forwarders that listen on
its peer address (10.77.N.1) in the root namespace. Cutting its network sets the veth link
down: packets vanish silently, as in a real partition, and no peer gets a reset. Killing a
host sends SIGKILL to every process in its namespace (`ip netns pids`).

A SQLite file and the embedded Redis's unix socket are reached through the filesystem,
which no network namespace separates: with them the hosts share the services directly, and
their network cannot be cut.

Without namespaces (not root, no `ip`), a host is a set of processes with node names of its
own: the same processes on this machine's network.
"""

import contextlib
import fcntl
import os
import re
import shutil
import signal
import subprocess
import tempfile
import urllib.parse
from pathlib import Path

import psutil

from devstack.forwarder import TcpForwarder

_PREFIX = "cq"
_NAMESPACE = re.compile(rf"^{_PREFIX}(\d+)[a-z]$")
_LOCK = Path(tempfile.gettempdir()) / "calcqueue-netns.lock"
_DEFAULT_PORTS = {"postgres": 5432, "postgresql": 5432, "redis": 6379, "amqp": 5672}


def namespaces_unavailable() -> str:
    """Why network namespaces cannot be used here, or "" when they can."""
    if os.geteuid() != 0:
        return "not root"
    if not shutil.which("ip"):
        return "no `ip` command (iproute2)"
    probe = f"{_PREFIX}{os.getpid()}z"
    created = _ip("netns", "add", probe, check=False)
    if created.returncode != 0:
        return f"`ip netns add` failed: {created.stderr.strip()}"
    _ip("netns", "del", probe, check=False)
    return ""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


def remove_leftovers() -> list[str]:
    """Delete the namespaces of earlier runs whose test process is gone (a crash, a kill),
    with every process still inside; return their names."""
    removed = []
    for line in _ip("netns", "list").stdout.splitlines():
        name = line.split()[0] if line.strip() else ""
        match = _NAMESPACE.match(name)
        if match and not psutil.pid_exists(int(match.group(1))):
            _kill_namespace(name)
            _ip("netns", "del", name, check=False)
            removed.append(name)
    return removed


def _namespace_pids(name: str) -> list[int]:
    listed = _ip("netns", "pids", name, check=False).stdout.split()
    return [int(pid) for pid in listed if pid.isdigit()]


def _kill_namespace(name: str) -> int:
    pids = _namespace_pids(name)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return len(pids)


class WorkerHost:
    """One worker host: a network namespace, or (without) a name for a group of processes."""

    def __init__(self, letter: str, *, isolated: bool) -> None:
        self.letter = letter
        self.name = f"host{letter}"
        self.isolated = isolated
        self.namespace = f"{_PREFIX}{os.getpid()}{letter}"
        self.address = "127.0.0.1"
        self.gateway = "127.0.0.1"
        self.processes: list[subprocess.Popen] = []
        self._forwarders: dict[tuple[str, int], TcpForwarder] = {}
        self._veth = f"{self.namespace}h"

    def create(self) -> "WorkerHost":
        if not self.isolated:
            return self
        # The lock makes concurrent test runs on this machine pick different subnets.
        with _LOCK.open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            subnet = self._free_subnet()
            self.gateway, self.address = f"10.77.{subnet}.1", f"10.77.{subnet}.2"
            _ip("netns", "add", self.namespace)
            _ip("link", "add", self._veth, "type", "veth", "peer", "name", "eth0",
                "netns", self.namespace)  # fmt: skip
            _ip("addr", "add", f"{self.gateway}/24", "dev", self._veth)
            _ip("link", "set", self._veth, "up")
        inside = ("netns", "exec", self.namespace, "ip")
        _ip(*inside, "addr", "add", f"{self.address}/24", "dev", "eth0")
        _ip(*inside, "link", "set", "eth0", "up")
        _ip(*inside, "link", "set", "lo", "up")
        return self

    @staticmethod
    def _free_subnet() -> int:
        used = set(re.findall(r"inet 10\.77\.(\d+)\.", _ip("-o", "-4", "addr", "show").stdout))
        return next(n for n in range(1, 255) if str(n) not in used)

    @property
    def command_prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.namespace] if self.isolated else []

    def reach(self, url: str) -> str:
        """The URL by which this host reaches a service of this machine: through a forwarder
        on its gateway for TCP on the loopback, unchanged for a file or a unix socket."""
        parts = urllib.parse.urlsplit(url)
        if not self.isolated or parts.hostname not in {"127.0.0.1", "localhost"}:
            return url
        target = (parts.hostname, parts.port or _DEFAULT_PORTS[parts.scheme])
        if target not in self._forwarders:
            self._forwarders[target] = TcpForwarder(self.gateway, target).start()
        credentials = parts.netloc.rpartition("@")[0]
        netloc = f"{credentials}@" if credentials else ""
        netloc += f"{self.gateway}:{self._forwarders[target].port}"
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))

    def kill(self) -> int:
        """SIGKILL every process of this host at once; return how many there were."""
        if self.isolated:
            return _kill_namespace(self.namespace)
        pids = [child.pid for process in self.processes for child in _process_tree(process.pid)]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return len(pids)

    def cut(self) -> None:
        """Drop every packet between this host and the rest, silently."""
        _ip("link", "set", self._veth, "down")

    def heal(self) -> None:
        _ip("link", "set", self._veth, "up")

    def destroy(self) -> None:
        self.kill()
        for process in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
        for forwarder in self._forwarders.values():
            forwarder.close()
        if self.isolated:
            _ip("netns", "del", self.namespace, check=False)


def _process_tree(pid: int) -> list[psutil.Process]:
    try:
        parent = psutil.Process(pid)
        return [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []
