import contextlib
import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Sequence

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Ask Linux to send SIGTERM to this child if its parent dies, even by SIGKILL."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(args: Sequence[str], *, env: dict[str, str] | None = None, **kwargs) -> subprocess.Popen:
    """Start a child in its own process group that cannot outlive its parent."""
    return subprocess.Popen(
        list(args),
        env=env,
        start_new_session=True,
        preexec_fn=_die_with_parent if os.uname().sysname == "Linux" else None,
        **kwargs,
    )


def stop(process: subprocess.Popen, *, sig: int = signal.SIGTERM, grace: float = 10.0) -> None:
    """Signal a child, wait up to `grace` seconds, then kill its whole process group."""
    if process.poll() is None:
        process.send_signal(sig)
        deadline = time.monotonic() + grace
        while process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
    # Pool children of a worker share its process group; none may be left behind.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
