"""`make run`: the embedded Redis (unless REDIS_URL is set), migrations, a Celery worker, Celery
beat and the web server, supervised together. Ctrl-C or SIGTERM stops every child in reverse
order of start (web, beat, worker, Redis); so does the death of this process, because each
child is told to die with its parent.
"""

import os
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


class _Stop(Exception):
    pass


def _raise_stop(signum: int, frame: object) -> None:
    # Once stopping has begun, further signals must not interrupt the orderly shutdown.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise _Stop(signal.Signals(signum).name)


def _wait_for_http(url: str, processes: list[subprocess.Popen]) -> None:
    deadline = time.monotonic() + WEB_START_TIMEOUT_SECONDS
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        for process in processes:
            if process.poll() is not None:
                raise RuntimeError(f"{process.args[:3]} exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the web server did not answer at {url}")
        time.sleep(0.2)


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.conf import settings

    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    port = os.environ.get("PORT", "8000")
    url = f"http://127.0.0.1:{port}/"
    python = sys.executable
    try:
        with ExitStack() as stack:
            env = dict(os.environ)
            if not os.environ.get("REDIS_URL"):
                redis_server = stack.enter_context(EmbeddedRedis(settings.STATE_DIR / "redis"))
                env["REDIS_URL"] = redis_server.url
                print(f"calcqueue: embedded Redis on {redis_server.socket}", flush=True)
            subprocess.run(
                [python, "manage.py", "migrate", "--noinput"], cwd=BASE_DIR, env=env, check=True
            )
            worker = spawn(
                [
                    python,
                    "-m",
                    "celery",
                    "-A",
                    "config",
                    "worker",
                    "--loglevel",
                    "INFO",
                    "--hostname",
                    f"calcqueue@{os.uname().nodename}",
                ],
                cwd=BASE_DIR,
                env=env,
            )
            # Warm shutdown (SIGTERM) lets running calculations finish within the grace period.
            stack.callback(stop, worker, grace=WORKER_STOP_GRACE_SECONDS)
            # Beat runs the periodic sweeper that rescues work lost with a worker or Redis.
            beat = spawn(
                [
                    python,
                    "-m",
                    "celery",
                    "-A",
                    "config",
                    "beat",
                    "--loglevel",
                    "INFO",
                    "--schedule",
                    str(settings.STATE_DIR / "celerybeat-schedule"),
                ],
                cwd=BASE_DIR,
                env=env,
            )
            stack.callback(stop, beat, grace=5.0)
            web = spawn(
                [python, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
                cwd=BASE_DIR,
                env=env,
            )
            stack.callback(stop, web, grace=5.0)
            _wait_for_http(url, [worker, beat, web])
            print(f"\ncalcqueue is running at {url}  (Ctrl-C stops it)\n", flush=True)
            while True:
                for process in (worker, beat, web):
                    if process.poll() is not None:
                        raise RuntimeError(f"{process.args[:4]} exited with {process.returncode}")
                time.sleep(0.5)
    except _Stop as reason:
        print(f"\ncalcqueue: {reason}, stopping", flush=True)
        return 0
    except (RuntimeError, subprocess.CalledProcessError) as error:
        print(f"calcqueue: {error}; stopping", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
