"""One attempt at a delivery, through the real service, against real receivers in this
process (an HTTP server and an SMTP server on loopback); the broker is replaced by a list."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from calculations.models import Calculation
from notifications import services
from notifications.models import Delivery, Subscription
from notifications.targets import EmailTarget, WebhookTarget
from tests.calculations.factories import make_finished

pytestmark = pytest.mark.django_db
D = Delivery.Status


@pytest.fixture(autouse=True)
def fast(settings, monkeypatch) -> list:
    settings.CALCQUEUE_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.CALCQUEUE_WEBHOOK_CONNECT_TIMEOUT_SECONDS = 1
    settings.CALCQUEUE_WEBHOOK_READ_TIMEOUT_SECONDS = 1
    settings.CALCQUEUE_NOTIFY_BACKOFF_SECONDS = 10
    settings.CALCQUEUE_NOTIFY_BACKOFF_MAX_SECONDS = 600
    published: list = []
    monkeypatch.setattr(
        services, "_publish", lambda ids, countdown: published.append((ids, countdown))
    )
    monkeypatch.setattr(
        services.transaction, "on_commit", lambda callback, robust=False: callback()
    )
    return published


def webhook_delivery(url: str) -> Delivery:
    calculation = make_finished(Calculation.Status.SUCCESS, output_head="55", output_digits=2)
    services.subscriptions_create(
        calculations=[calculation], targets=[WebhookTarget(url=url, secret="whsec_t")]
    )
    (delivery_id,) = services.deliveries_create(calculation_ids=[calculation.pk])
    return Delivery.objects.get(pk=delivery_id)


def send(delivery: Delivery) -> Delivery:
    services.delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    return delivery


def test_a_2xx_answer_delivers(receiver):
    receiver.then = "204"
    delivery = send(webhook_delivery(receiver.start().url))
    assert (delivery.status, delivery.attempts, delivery.last_error) == (D.DELIVERED, 1, "")
    assert delivery.delivered_at is not None
    assert services.delivery_send(delivery_id=delivery.pk) == "skipped"
    assert len(receiver.received) == 1


@pytest.mark.parametrize("answer", ["400", "401", "404", "410", "422"])
def test_a_4xx_answer_fails_at_once(receiver, fast, answer):
    receiver.then = answer
    delivery = send(webhook_delivery(receiver.start().url))
    (attempt,) = delivery.attempts_made.all()
    assert (delivery.status, attempt.status_code, attempt.outcome) == (
        D.FAILED,
        int(answer),
        "failed",
    )
    assert f"HTTP {answer}" in delivery.last_error and "scripted" in delivery.last_error
    assert fast == []  # not tried again


def test_a_redirect_is_not_followed(receiver):
    receiver.then = "302"
    delivery = send(webhook_delivery(receiver.start().url))
    assert delivery.status == D.FAILED and "redirects are not followed" in delivery.last_error
    assert len(receiver.received) == 1


def test_429_with_retry_after_waits_at_least_that_long(receiver, fast, settings):
    settings.CALCQUEUE_NOTIFY_BACKOFF_SECONDS = 1
    receiver.then = "429:120"
    before = timezone.now()
    delivery = send(webhook_delivery(receiver.start().url))
    assert delivery.status == D.PENDING and delivery.attempts == 1
    waited = (delivery.next_attempt_at - before).total_seconds()
    assert 120 <= waited < 125
    ((ids, countdown),) = fast
    assert ids == [str(delivery.pk)] and 119 < countdown <= 120


def test_retry_after_is_capped_by_the_backoff_maximum(receiver, fast, settings):
    settings.CALCQUEUE_NOTIFY_BACKOFF_MAX_SECONDS = 30
    receiver.then = "503:86400"
    delivery = send(webhook_delivery(receiver.start().url))
    assert delivery.status == D.PENDING
    assert fast[0][1] == 30


def test_a_5xx_answer_is_retried_with_backoff_until_the_cap(receiver, fast, settings):
    settings.CALCQUEUE_NOTIFY_MAX_ATTEMPTS = 3
    receiver.then = "500"
    delivery = webhook_delivery(receiver.start().url)
    for attempt in (1, 2, 3):
        Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
        delivery = send(delivery)
        assert delivery.attempts == attempt
    assert fast[0][1] >= 5  # 10 s × 0.5 to 1
    assert 10 <= fast[1][1] <= 20
    assert delivery.status == D.FAILED and "gave up after 3 attempts" in delivery.last_error
    assert [a.outcome for a in delivery.attempts_made.all()] == ["retry", "retry", "failed"]


def test_a_receiver_that_hangs_is_cut_off_by_the_timeouts(receiver):
    receiver.then = "hang:5"
    started = time.monotonic()
    delivery = send(webhook_delivery(receiver.start().url))
    elapsed = time.monotonic() - started
    (attempt,) = delivery.attempts_made.all()
    assert delivery.status == D.PENDING and "Timeout" in attempt.error
    assert elapsed < 3, elapsed
    assert attempt.duration_seconds < 3


def test_nothing_listening_is_retried(receiver):
    delivery = send(webhook_delivery(receiver.url))  # never started
    assert delivery.status == D.PENDING
    assert "ConnectionRefusedError" in delivery.last_error


def test_an_address_refused_at_delivery_time_is_never_contacted(receiver, settings):
    delivery = webhook_delivery(receiver.start().url)  # allowed when submitted
    settings.CALCQUEUE_WEBHOOK_ALLOWED_HOSTS = []
    delivery = send(delivery)
    assert delivery.status == D.FAILED
    assert "127.0.0.1, a loopback address" in delivery.last_error
    assert receiver.received == []


def test_a_claim_taken_over_keeps_the_new_owner_s_state(receiver, monkeypatch):
    """A worker whose claim lapsed (the sweeper gave the delivery to another) records its
    attempt but does not overwrite the delivery."""
    delivery = webhook_delivery(receiver.start().url)
    real_attempt = services._attempt

    def slow_attempt(claimed):
        result = real_attempt(claimed)
        Delivery.objects.filter(pk=claimed.pk).update(
            status=D.SENDING, claimed_until=timezone.now() + timedelta(hours=1)
        )
        return result

    monkeypatch.setattr(services, "_attempt", slow_attempt)
    delivery = send(delivery)
    assert delivery.status == D.SENDING and delivery.attempts_made.count() == 1


# --- Email -----------------------------------------------------------------------------------


@pytest.fixture
def smtp_settings(settings, smtp_server):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = smtp_server.host, smtp_server.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    return smtp_server


def email_delivery() -> Delivery:
    calculation = make_finished(Calculation.Status.SUCCESS, output_head="55", output_digits=2)
    services.subscriptions_create(
        calculations=[calculation], targets=[EmailTarget(address="ada@example.com")]
    )
    (delivery_id,) = services.deliveries_create(calculation_ids=[calculation.pk])
    return Delivery.objects.get(pk=delivery_id)


def test_email_accepted_by_the_smtp_server_is_delivered(smtp_settings):
    delivery = send(email_delivery())
    assert delivery.status == D.DELIVERED
    (message,) = smtp_settings.messages
    assert message["Subject"] == "calcqueue: fibonacci(10) finished: SUCCESS"
    assert "2 digits: 55" in message.get_content()


def test_email_refused_with_4xx_is_retried_and_with_5xx_fails(smtp_settings):
    smtp_settings.mailbox.refusals = ["451 4.7.1 Try again later"]
    delivery = send(email_delivery())
    assert delivery.status == D.PENDING and delivery.attempts_made.get().status_code == 451
    smtp_settings.mailbox.refusals = ["550 5.1.1 No such user"]
    other = send(email_delivery())
    assert other.status == D.FAILED and "550" in other.last_error
    assert smtp_settings.messages == []


def test_email_with_no_smtp_server_is_retried(settings, receiver):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", receiver.port  # nothing listens
    delivery = send(email_delivery())
    assert delivery.status == D.PENDING and "ConnectionRefusedError" in delivery.last_error


def test_an_email_subscription_whose_calculations_were_deleted_fails_quietly(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    delivery = email_delivery()
    Subscription.objects.get().calculations.clear()
    assert send(delivery).status == D.FAILED


def test_https_connects_to_the_checked_address_and_verifies_the_certificate_for_the_name(
    tmp_path, settings, monkeypatch
):
    """The URL names localhost; the attempt connects to the address checked (127.0.0.1)
    while TLS still sends SNI and verifies the certificate for "localhost"."""
    import http.server
    import shutil
    import ssl
    import subprocess
    import threading

    from notifications import senders
    from tests.notifications.conftest import free_port

    if not shutil.which("openssl"):
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    sni: list[str] = []
    server_tls.sni_callback = lambda sock, name, context: sni.append(name)
    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.socket = server_tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client_tls = ssl.create_default_context(cafile=str(cert))
    monkeypatch.setattr(senders, "_tls", lambda: client_tls)
    try:
        settings.CALCQUEUE_WEBHOOK_ALLOWED_HOSTS = ["localhost"]
        delivery = send(webhook_delivery(f"https://localhost:{port}/hook"))
        assert delivery.status == D.DELIVERED, delivery.last_error
        assert sni == ["localhost"]
        # A certificate for another name is refused, although the address is the same.
        settings.CALCQUEUE_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
        other = send(webhook_delivery(f"https://127.0.0.1:{port}/hook"))
        assert other.status == D.PENDING and "CERTIFICATE_VERIFY_FAILED" in other.last_error
    finally:
        server.shutdown()
        server.server_close()
