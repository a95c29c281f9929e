"""Real receivers on loopback for the notification tests: an HTTP server that answers as its
script says, and an SMTP server (aiosmtpd) that keeps what it receives."""

import contextlib
import email
import email.policy
import http.server
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope

from tests.drills import conftest as drills


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Received:
    at: float
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1. Each request takes the next step of `script`, then
    `then` for ever: "200", "500", "404", "302", "<status>:<retry-after>" (e.g. "429:120"),
    "hang:<seconds>" (wait that long before answering 200). Nothing listens until start(),
    so a URL taken before start() is refused ("connection refused")."""

    script: list[str] = field(default_factory=list)
    then: str = "200"
    port: int = field(default_factory=free_port)
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._server: http.server.ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/calcqueue"

    def _next_step(self) -> str:
        with self._lock:
            return self.script.pop(0) if self.script else self.then

    def start(self) -> "Receiver":
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.received.append(
                    Received(time.time(), self.path, dict(self.headers.items()), body)
                )
                step = receiver._next_step()
                kind, _, argument = step.partition(":")
                if kind == "hang":
                    time.sleep(float(argument))
                    kind, argument = "200", ""
                self.send_response(int(kind))
                if argument:
                    self.send_header("Retry-After", argument)
                if kind == "302":
                    self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
                answer = b"ok" if kind == "200" else f"scripted {kind}".encode()
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                # After a hang the client has usually given up and closed the connection.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(answer)

            def log_message(self, *args) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver to script (receiver.script = [...]) and start() in the test."""
    made = Receiver()
    yield made
    made.stop()


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[Envelope] = []
        # Replies to give to RCPT, first to last, before accepting (e.g. "451 try later").
        self.refusals: list[str] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refusals:
            return self.refusals.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        self.envelopes.append(envelope)
        self.messages.append(
            email.message_from_bytes(envelope.content, policy=email.policy.default)
        )
        return "250 Message accepted for delivery"


@dataclass
class SMTPServer:
    host: str
    port: int
    mailbox: _Mailbox

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    @property
    def messages(self) -> list[email.message.EmailMessage]:
        return self.mailbox.messages


@pytest.fixture
def smtp_server() -> Iterator[SMTPServer]:
    """A real SMTP server (aiosmtpd) on loopback, in a thread of this process."""
    mailbox = _Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield SMTPServer(controller.hostname, controller.port, mailbox)
    controller.stop()


# The drills' stack (web server, beat, workers on a private broker) runs the end-to-end tests.
drill_broker = drills.drill_broker

# Fast knobs: attempts a second or two apart, a cap of 4, timeouts of a second, the
# notification sweeper every second.
NOTIFY_ENV = {
    "CALCQUEUE_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
    "CALCQUEUE_WEBHOOK_CONNECT_TIMEOUT_SECONDS": "1",
    "CALCQUEUE_WEBHOOK_READ_TIMEOUT_SECONDS": "1",
    "CALCQUEUE_NOTIFY_MAX_ATTEMPTS": "4",
    "CALCQUEUE_NOTIFY_BACKOFF_SECONDS": "1",
    "CALCQUEUE_NOTIFY_BACKOFF_MAX_SECONDS": "2",
    "CALCQUEUE_NOTIFY_SWEEP_INTERVAL_SECONDS": "1",
    "CALCQUEUE_NOTIFY_REQUEUE_AFTER_SECONDS": "2",
    "CALCQUEUE_NOTIFY_ANY_EMAIL": "true",
}


@pytest.fixture
def notify_stack(drill_broker, smtp_server, tmp_path, monkeypatch) -> Iterator[drills.DrillStack]:
    """calcqueue in real processes, sending email to `smtp_server`; tests start workers."""
    monkeypatch.setenv("EMAIL_URL", smtp_server.url)
    drill_broker.empty()
    stack = drills.DrillStack(drill_broker, tmp_path, NOTIFY_ENV)
    try:
        yield stack.start()
    finally:
        stack.stop()


@pytest.fixture
def client(client):
    """Signed in (session) as the owner of the factory rows."""
    from tests.calculations.factories import default_owner

    client.force_login(default_owner())
    return client
