"""`make run` as a new user runs it: embedded Redis, SQLite, worker and web server; then Ctrl-C."""

import contextlib
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.new_user_setup]

BASE_DIR = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_line(log: Path, pattern: str, process: subprocess.Popen, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = re.search(pattern, log.read_text(errors="replace"))
        if match:
            return match.group(0)
        assert process.poll() is None, f"make run exited early:\n{log.read_text()[-3000:]}"
        time.sleep(0.2)
    raise AssertionError(f"no {pattern!r} within {timeout} s:\n{log.read_text()[-3000:]}")


def _command_lines(processes: list[psutil.Process]) -> list[str]:
    """Command lines of the processes still there (a pool may replace a process meanwhile)."""
    lines = []
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            lines.append(" ".join(process.cmdline()))
    return lines


@contextlib.contextmanager
def make_run(tmp_path: Path) -> Iterator[tuple[subprocess.Popen, str, list[psutil.Process], Path]]:
    """`make run` started as a new user starts it, and its URL once it serves; it is killed
    at the end if the test did not stop it."""
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "BROKER_URL", "MAKEFLAGS", "MAKELEVEL"}
    }
    env |= {
        "PORT": str(port),
        "CALCQUEUE_STATE_DIR": str(tmp_path / "state"),
        "CALCQUEUE_WORKER_CONCURRENCY": "2",
    }
    log = tmp_path / "make-run.log"
    with log.open("wb") as output:
        make = subprocess.Popen(
            ["make", "run"],
            cwd=BASE_DIR,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = wait_for_line(log, rf"http://127\.0\.0\.1:{port}/", make, timeout=180)
        descendants = psutil.Process(make.pid).children(recursive=True)
        names = " ".join(_command_lines(descendants))
        assert "redis-server" in names and "celery" in names and "runserver" in names
        yield make, url, descendants, log
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGKILL)


def assert_stopped_cleanly(make: subprocess.Popen, descendants, log: Path) -> None:
    assert make.wait(timeout=60) is not None
    time.sleep(0.5)
    survivors = [p for p in descendants if p.is_running() and p.status() != "zombie"]
    assert survivors == [], [p.cmdline() for p in survivors]
    assert "stopping" in log.read_text()
    assert "restarting" not in log.read_text()  # No child died on its own meanwhile.


def test_make_run_serves_calculations_and_ctrl_c_stops_every_process(tmp_path):
    with make_run(tmp_path) as (make, url, descendants, log):
        with httpx.Client(base_url=url, timeout=10) as browser:
            browser.get("/")
            response = browser.post(
                "/",
                data={
                    "equation": "fibonacci",
                    "n": "39, 4, 6, 32",
                    "csrfmiddlewaretoken": browser.cookies["csrftoken"],
                },
            )
            assert response.status_code == 302
            deadline = time.monotonic() + 30
            while (page := browser.get("/").text).count('data-status="SUCCESS">') < 4:
                assert time.monotonic() < deadline, page
                time.sleep(0.1)
            for value in ("63245986", "2178309"):
                assert value in page

        os.killpg(make.pid, signal.SIGINT)  # What the terminal sends on Ctrl-C.
        assert_stopped_cleanly(make, descendants, log)


def test_make_run_stops_every_process_on_sigterm_to_make_alone(tmp_path):
    # What a supervisor (systemd, a container runtime, kill) sends: make's pid only; make
    # passes SIGTERM on to its child, and the child stops everything it started.
    with make_run(tmp_path) as (make, _, descendants, log):
        make.send_signal(signal.SIGTERM)
        assert_stopped_cleanly(make, descendants, log)
