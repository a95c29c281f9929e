"""Notifications end to end: calcqueue in real processes (web server, beat, workers, Redis,
database) delivering to real receivers on loopback — an HTTP server that fails as scripted
and an SMTP server (aiosmtpd)."""

import itertools
import json
import re
import time

import kombu
import pytest
from django.contrib.auth.models import User

from accounts import services as account_services
from calculations.models import Calculation
from notifications.models import Delivery, DeliveryAttempt, Subscription
from notifications.tasks import deliver, prepare_deliveries
from tests.notifications.test_signing import readme_verify_signature

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

D = Delivery.Status


def wait_for(condition, *, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(0.02)
    return value


def final_delivery(timeout: float = 60) -> Delivery:
    return wait_for(
        lambda: Delivery.objects.filter(status__in=[D.DELIVERED, D.FAILED]).first(),
        timeout=timeout,
        what="a delivery to end",
    )


def submit(stack, **payload) -> dict:
    response = stack.http.post("/api/calculations", json=payload)
    assert response.status_code == 202, response.text
    return response.json()


def test_webhook_refused_then_500_then_timeout_is_delivered_on_attempt_4(notify_stack, receiver):
    notify_stack.start_worker(concurrency=2)
    receiver.script = ["500", "hang:3"]  # after a first attempt refused: nothing listens yet
    started = time.monotonic()
    created = submit(notify_stack, equation="fibonacci", n=90, callback_url=receiver.url)
    (notification,) = created["notifications"]
    secret = notification["signing_secret"]
    assert notification["kind"] == "webhook" and secret.startswith("whsec_")

    wait_for(lambda: DeliveryAttempt.objects.exists(), timeout=30, what="the first attempt")
    receiver.start()
    delivery = final_delivery()
    elapsed = time.monotonic() - started

    attempts = list(delivery.attempts_made.order_by("started_at"))
    print(
        f"\nwebhook delivered on attempt {len(attempts)}, {elapsed:.1f} s after submission: "
        + "; ".join(f"{a.status_code} {a.error[:40]!r} {a.duration_seconds:.2f}s" for a in attempts)
    )
    assert (delivery.status, delivery.attempts) == (D.DELIVERED, 4)
    assert [a.outcome for a in attempts] == ["retry", "retry", "retry", "delivered"]
    assert [a.status_code for a in attempts] == [None, 500, None, 200]
    assert "ConnectError" in attempts[0].error and "refused" in attempts[0].error.lower()
    assert attempts[1].error.startswith("HTTP 500")
    assert "Timeout" in attempts[2].error and attempts[2].duration_seconds < 2.5
    # Exponential backoff: each wait at least half its ceiling (base 1 s, at most 2 s).
    gaps = [
        (later.started_at - earlier.started_at).total_seconds() - earlier.duration_seconds
        for earlier, later in itertools.pairwise(attempts)
    ]
    assert all(gap >= 0.45 for gap in gaps), gaps

    assert len(receiver.received) == 3  # the refused attempt never arrived
    bodies = {request.body for request in receiver.received}
    assert len(bodies) == 1, "every attempt sends the same event"
    last = receiver.received[-1]
    signature = last.headers["Calcqueue-Signature"]
    verify_signature = readme_verify_signature()
    assert verify_signature(signature, last.body, secret)
    assert not verify_signature(signature, last.body, "whsec_someone_else")
    assert not verify_signature(signature, last.body + b" ", secret)
    assert last.path == "/hooks/calcqueue"
    assert last.headers["Content-Type"] == "application/json"
    assert last.headers["Host"] == f"127.0.0.1:{receiver.port}"

    event = json.loads(last.body)
    calculation = Calculation.objects.get()
    assert event["id"] == str(delivery.pk) == last.headers["Calcqueue-Event-Id"]
    assert event["type"] == "calculation.finished"
    assert event["calculation"]["id"] == str(calculation.pk)
    assert event["calculation"]["status"] == "SUCCESS"
    assert event["calculation"]["output"] == "2880067194370816120"  # F(90)
    assert event["calculation"]["duration_seconds"] >= 0
    assert event["calculation"]["links"]["page"].endswith(f"/calculations/{calculation.pk}/")

    shown = notify_stack.http.get(f"/api/calculations/{calculation.pk}").json()
    (notification,) = shown["notifications"]
    assert notification["status"] == "DELIVERED" and notification["signing_secret"] is None
    assert [a["status_code"] for a in notification["attempts"]] == [None, 500, None, 200]
    assert shown["status"] == "SUCCESS" and shown["output"] == "2880067194370816120"
    page = notify_stack.http.get(f"/calculations/{calculation.pk}/").text
    assert 'data-status="DELIVERED"' in page and "scripted 500" in page


def test_an_api_token_s_default_callback_receives_the_events_of_its_submissions(
    notify_stack, receiver, settings
):
    settings.CALCQUEUE_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]  # as the stack's processes have
    new = account_services.api_token_create(
        user=User.objects.create_user("hooked"), name="hooked", callback_url=receiver.url
    )
    receiver.start()
    notify_stack.start_worker(concurrency=2)
    response = notify_stack.http.post(
        "/api/calculations",
        json={"equation": "fibonacci", "n": 90},
        headers={"Authorization": f"Bearer {new.secret}"},
    )
    assert response.status_code == 202, response.text
    (notification,) = response.json()["notifications"]
    assert notification["target"] == receiver.url and notification["signing_secret"] is None

    delivery = final_delivery()
    assert (delivery.status, delivery.attempts) == (D.DELIVERED, 1)
    (received,) = receiver.received
    verify_signature = readme_verify_signature()
    signature = received.headers["Calcqueue-Signature"]
    # Signed with the secret shown once, with the token.
    assert verify_signature(signature, received.body, new.token.callback_secret)
    event = json.loads(received.body)
    assert event["calculation"]["output"] == "2880067194370816120"  # F(90)


def test_webhook_that_always_fails_ends_failed_after_the_cap_then_send_again_delivers(
    notify_stack, receiver
):
    notify_stack.start_worker(concurrency=2)
    receiver.then = "503"
    receiver.start()
    started = time.monotonic()
    created = submit(notify_stack, equation="factorial", n=20, callback_url=receiver.url)
    delivery = final_delivery()
    elapsed = time.monotonic() - started
    attempts = list(delivery.attempts_made.order_by("started_at"))
    print(f"\nalways 503: {delivery.status} after {len(attempts)} attempts, {elapsed:.1f} s")
    assert delivery.status == D.FAILED and len(attempts) == 4 == len(receiver.received)
    assert [a.outcome for a in attempts] == ["retry", "retry", "retry", "failed"]
    assert "gave up after 4 attempts" in delivery.last_error
    calculation = Calculation.objects.get()
    assert calculation.status == "SUCCESS" and calculation.output_head == "2432902008176640000"
    # 3 waits of at least 0.5, 1 and 1 s, at most 1, 2 and 2 s, plus four quick answers.
    assert 2.4 < (attempts[-1].started_at - attempts[0].started_at).total_seconds() < 15

    (notification,) = created["notifications"]
    shown = notify_stack.http.get(f"/api/calculations/{calculation.pk}").json()
    resend = shown["notifications"][0]["links"]["resend"]
    assert resend == (
        f"/api/calculations/{calculation.pk}/notifications/{notification['id']}/resend"
    )
    receiver.then = "200"
    answer = notify_stack.http.post(resend)
    assert answer.status_code == 202 and answer.json()["status"] in {"PENDING", "SENDING"}
    assert notify_stack.http.post(resend).status_code in {202, 409}
    wait_for(
        lambda: Delivery.objects.filter(status=D.DELIVERED).exists(),
        timeout=30,
        what="the resent delivery",
    )
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.resends) == (1, 1)
    assert delivery.attempts_made.count() == 5 == len(receiver.received)
    assert notify_stack.http.post(resend).status_code == 409


def test_batch_email_is_sent_once_through_smtp_however_often_it_is_asked_for(
    notify_stack, smtp_server, drill_broker
):
    notify_stack.start_worker(concurrency=2)
    started = time.monotonic()
    created = submit(
        notify_stack,
        items=[{"equation": "fibonacci", "n": n} for n in (39, 4, 6, 32)]
        + [{"equation": "fibonacci", "n": 100_000}, {"equation": "fibonacci", "n": 100_000_000}],
        notify_email="ada@example.com",
    )
    assert [len(item["notifications"]) for item in created["items"]] == [1] * 6
    cancelled = notify_stack.http.post(created["items"][5]["links"]["self"] + "/cancel")
    assert cancelled.status_code == 200
    delivery = final_delivery()
    elapsed = time.monotonic() - started
    print(f"\nbatch email delivered {elapsed:.2f} s after submission")
    assert delivery.status == D.DELIVERED and delivery.calculation_id is None
    (message,) = smtp_server.messages
    assert smtp_server.mailbox.envelopes[0].rcpt_tos == ["ada@example.com"]
    assert message["To"] == "ada@example.com"
    assert message["Message-ID"] == f"<{delivery.pk}@calcqueue>"
    assert message["Subject"] == "calcqueue: 6 calculations finished: 1 CANCELLED, 5 SUCCESS"
    text = message.get_content().replace("\r\n", "\n")  # SMTP's line ends
    print(f"Subject: {message['Subject']}\n{text}")
    assert "All 6 calculations you submitted together have finished." in text
    assert re.search(r"fibonacci\(39\): SUCCESS in \d+\.\d{3} s\n  8 digits: 63245986\n", text)
    assert (
        "fibonacci(100000): SUCCESS" in text and "20,899 digits: 259740693472217241661550" in text
    )
    assert "fibonacci(100000000): CANCELLED" in text
    for calculation in Calculation.objects.all():
        assert f"http://127.0.0.1:8000/calculations/{calculation.pk}/" in text

    # Everything a retrying worker or the sweeper could do again: nothing is sent twice.
    with kombu.Connection(drill_broker.url) as connection:
        ids = [str(c.pk) for c in Calculation.objects.all()]
        for _ in range(3):
            prepare_deliveries.apply_async((ids,), connection=connection)
            deliver.apply_async((str(delivery.pk),), connection=connection)
    time.sleep(3)  # three sweeps and the messages above
    assert len(smtp_server.messages) == 1
    assert Delivery.objects.count() == 1 and delivery.attempts_made.count() == 1


def _waiting(broker_url: str, queue: str) -> int:
    """Messages waiting in `queue`, on Redis or RabbitMQ alike."""
    with kombu.Connection(broker_url) as connection:
        try:
            return connection.default_channel.queue_declare(queue=queue, passive=True).message_count
        except connection.channel_errors:
            # Redis keeps no empty queue: until the first message is published there is none.
            return 0


def test_a_lost_message_is_found_by_the_sweeper_and_delivered_once(
    notify_stack, receiver, drill_broker, settings
):
    receiver.start()
    notify_stack.start_worker(
        concurrency=2, queues=[settings.CALCQUEUE_LONG_QUEUE, settings.CALCQUEUE_SHORT_QUEUE]
    )
    submit(notify_stack, equation="fibonacci", n=30, callback_url=receiver.url)
    wait_for(
        lambda: Calculation.objects.filter(status="SUCCESS").exists(),
        timeout=30,
        what="the calculation",
    )
    wait_for(
        lambda: _waiting(drill_broker.url, settings.CALCQUEUE_NOTIFY_QUEUE),
        timeout=10,
        what="the message waiting",
    )
    drill_broker.restart_empty()
    assert not Delivery.objects.exists()
    notify_stack.start_worker(concurrency=1, queues=[settings.CALCQUEUE_NOTIFY_QUEUE])
    delivery = final_delivery(timeout=30)
    time.sleep(2)
    assert delivery.status == D.DELIVERED and len(receiver.received) == 1
    assert Subscription.objects.get().completed_at is not None
