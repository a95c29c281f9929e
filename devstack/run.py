"""`make run`: the embedded Redis (unless REDIS_URL is set), migrations, three Celery workers (long
work, short work, notifications), Celery beat and the web server, supervised together; Flower
too with CALCQUEUE_FLOWER=1.

A child that exits on its own is started again, as systemd's Restart=always would (a worker can
die on a lost broker connection). Ctrl-C or SIGTERM stops every child in reverse order of start
(web, beat, worker, Redis); so does the death of this process, because each child is told to
die with its parent.
"""

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from pathlib import Path

from devstack.embedded_redis import EmbeddedRedis
from devstack.processes import spawn, stop

BASE_DIR = Path(__file__).resolve().parent.parent
WEB_START_TIMEOUT_SECONDS = 60.0
WORKER_STOP_GRACE_SECONDS = float(os.environ.get("CALCQUEUE_WORKER_STOP_GRACE", "10"))
RESTART_DELAY_SECONDS = 1.0


class _Stop(Exception):
    pass


def _raise_stop(signum: int, frame: object) -> None:
    # Once stopping has begun, further signals must not interrupt the orderly shutdown.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise _Stop(signal.Signals(signum).name)


class Child:
    """One supervised process, restarted when it exits on its own."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], grace: float) -> None:
        self.name, self.args, self.env, self.grace = name, args, env, grace
        self.process = self._spawn()

    def _spawn(self) -> subprocess.Popen:
        return spawn(self.args, cwd=BASE_DIR, env=self.env)

    def restart_if_exited(self) -> None:
        if self.process.poll() is not None:
            code = self.process.returncode
            print(f"calcqueue: {self.name} exited with {code}; restarting", flush=True)
            time.sleep(RESTART_DELAY_SECONDS)
            self.process = self._spawn()

    def stop(self) -> None:
        stop(self.process, grace=self.grace)


def _wait_for_http(url: str) -> None:
    deadline = time.monotonic() + WEB_START_TIMEOUT_SECONDS
    while True:
        try:
            # Bandit B310: the http://127.0.0.1 URL of the server this script started.
            with urllib.request.urlopen(url, timeout=2):  # nosec B310
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the web server did not answer at {url}") from None
            time.sleep(0.2)


def _metrics_env(env: dict[str, str], state_dir: Path) -> None:
    """Give the web server and the workers one prometheus-client multiprocess directory, so
    that /metrics adds up what every process counted (monitoring/metrics.py). Ours is emptied
    at each start, as prometheus-client asks."""
    if env.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    directory = state_dir / "metrics"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    env["PROMETHEUS_MULTIPROC_DIR"] = str(directory)


def _flower(celery: list[str], env: dict[str, str]) -> "Child":
    """Flower on the same broker. Without FLOWER_BASIC_AUTH its API is opened to the loopback
    (the only address it listens on unless FLOWER_ADDRESS says otherwise)."""
    flower_env = {k: v for k, v in env.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    if not env.get("FLOWER_BASIC_AUTH"):
        flower_env.setdefault("FLOWER_UNAUTHENTICATED_API", "true")
    return Child("flower", [*celery, "flower", "--conf=config/flowerconfig.py"], flower_env, 5.0)


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.conf import settings

    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    port = os.environ.get("PORT", "8000")
    url = f"http://127.0.0.1:{port}/"
    python = sys.executable
    celery = [python, "-m", "celery", "-A", "config"]
    try:
        with ExitStack() as stack:
            env = dict(os.environ)
            # Links in notifications point at this server unless told otherwise.
            env.setdefault("CALCQUEUE_BASE_URL", url.rstrip("/"))
            if not os.environ.get("REDIS_URL"):
                redis_server = stack.enter_context(EmbeddedRedis(settings.STATE_DIR / "redis"))
                env["REDIS_URL"] = redis_server.url
                print(f"calcqueue: embedded Redis on {redis_server.socket}", flush=True)
            subprocess.run(
                [python, "manage.py", "migrate", "--noinput"], cwd=BASE_DIR, env=env, check=True
            )
            _metrics_env(env, settings.STATE_DIR)
            host = os.uname().nodename
            children = [
                # Warm shutdown (SIGTERM) lets running calculations finish within the grace.
                # Long work runs at a lower CPU priority than short work, on its own processes.
                Child(
                    "worker",
                    [
                        *celery,
                        "worker",
                        "-l",
                        "INFO",
                        "-n",
                        f"calcqueue@{host}",
                        "-Q",
                        settings.CALCQUEUE_LONG_QUEUE,
                    ],
                    {**env, "CALCQUEUE_WORKER_NICE": env.get("CALCQUEUE_WORKER_NICE", "10")},
                    WORKER_STOP_GRACE_SECONDS,
                ),
                Child(
                    "short-worker",
                    [
                        *celery,
                        "worker",
                        "-l",
                        "INFO",
                        "-n",
                        f"short@{host}",
                        "-Q",
                        settings.CALCQUEUE_SHORT_QUEUE,
                        "-c",
                        str(settings.CALCQUEUE_SHORT_WORKER_CONCURRENCY),
                    ],
                    env,
                    WORKER_STOP_GRACE_SECONDS,
                ),
                # Notifications wait on other servers: threads, on their own queue, so that a
                # receiver that hangs never holds up a calculation.
                Child(
                    "notify-worker",
                    [
                        *celery,
                        "worker",
                        "-l",
                        "INFO",
                        "-n",
                        f"notify@{host}",
                        "-Q",
                        settings.CALCQUEUE_NOTIFY_QUEUE,
                        "-P",
                        "threads",
                        "-c",
                        str(settings.CALCQUEUE_NOTIFY_WORKER_CONCURRENCY),
                    ],
                    env,
                    WORKER_STOP_GRACE_SECONDS,
                ),
                # Beat runs the periodic sweeper that rescues work lost with a worker or Redis,
                # retention and backups; its schedule is kept in the database (the admin).
                Child("beat", [*celery, "beat", "-l", "INFO"], env, 5.0),
                Child(
                    "web",
                    [python, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
                    env,
                    5.0,
                ),
            ]
            if os.environ.get("CALCQUEUE_FLOWER") == "1":
                children.insert(-1, _flower(celery, env))
            for child in children:
                stack.callback(child.stop)
            _wait_for_http(url)
            print(f"\ncalcqueue is running at {url}  (Ctrl-C stops it)", flush=True)
            print(f"  dashboard: {url}dashboard/   metrics: {url}metrics", flush=True)
            if os.environ.get("CALCQUEUE_FLOWER") == "1":
                flower_port = os.environ.get("FLOWER_PORT", "5555")
                print(f"  Flower:    http://127.0.0.1:{flower_port}/", flush=True)
            print(flush=True)
            while True:
                for child in children:
                    child.restart_if_exited()
                time.sleep(0.5)
    except _Stop as reason:
        print(f"\ncalcqueue: {reason}, stopping", flush=True)
        return 0
    except (RuntimeError, subprocess.CalledProcessError) as error:
        print(f"calcqueue: {error}; stopping", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
