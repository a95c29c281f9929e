"""notify_email, callback_url and notifications in the JSON API (Django's test client)."""

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from calculations.models import Calculation
from notifications.models import Delivery, DeliveryAttempt, Subscription
from notifications.targets import WebhookTarget
from tests.api.test_endpoints import post, problem
from tests.calculations.factories import make_finished, make_success

pytestmark = pytest.mark.django_db
HOOK = "http://127.0.0.1:9000/hooks/calcqueue"


@pytest.fixture(autouse=True)
def allowed(settings, monkeypatch):
    from calculations import services

    monkeypatch.setattr(services, "_enqueue", lambda calculations: None)
    settings.CALCQUEUE_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.CALCQUEUE_NOTIFY_ANY_EMAIL = True


def test_submit_one_with_a_callback_returns_its_signing_secret_once(client):
    response = post(
        client, "/api/calculations", {"equation": "fibonacci", "n": 39, "callback_url": HOOK}
    )
    assert response.status_code == 202
    (notification,) = response.json()["notifications"]
    subscription = Subscription.objects.get()
    assert notification == {
        "id": str(subscription.pk),
        "kind": "webhook",
        "target": HOOK,
        "status": "WAITING",
        "attempts": [],
        "next_attempt_at": None,
        "delivered_at": None,
        "signing_secret": subscription.secret,
        "links": {"resend": None},
    }
    shown = client.get(response["Location"]).json()
    assert shown["notifications"][0]["signing_secret"] is None
    listed = client.get("/api/calculations").json()["items"][0]
    assert listed["notifications"][0]["status"] == "WAITING"


def test_submit_a_batch_with_email_and_callback_subscribes_every_item_once(client):
    response = post(
        client,
        "/api/calculations",
        {
            "items": [{"equation": "fibonacci", "n": n} for n in (1, 2, 3)],
            "notify_email": "ada@example.com",
            "callback_url": HOOK,
        },
    )
    assert response.status_code == 202
    items = response.json()["items"]
    assert [[n["kind"] for n in item["notifications"]] for item in items] == [
        ["email", "webhook"]
    ] * 3
    assert Subscription.objects.count() == 2
    assert all(s.calculations.count() == 3 for s in Subscription.objects.all())


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://localhost:9000/", "localhost resolves to 127.0.0.1, a loopback address"),
        ("http://10.0.0.1/", "private"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[::1]/", "loopback"),
        ("ftp://example.com/", "http:// or https://"),
        ("http://user:secret@127.0.0.1:9000/", "no user name or password"),
        ("https://no-such-host.invalid/", "does not resolve"),
    ],
)
def test_submit_refuses_a_callback_it_must_not_call_and_creates_nothing(client, url, message):
    response = post(
        client, "/api/calculations", {"equation": "fibonacci", "n": 39, "callback_url": url}
    )
    assert response.status_code == 422
    (error,) = problem(response)["errors"]
    assert error["field"] == "callback_url" and message in error["message"]
    assert not Calculation.objects.exists() and not Subscription.objects.exists()


def test_submit_refuses_a_batch_callback_naming_the_top_level_field(client):
    response = post(
        client,
        "/api/calculations",
        {"items": [{"equation": "fibonacci", "n": 1}], "callback_url": "http://10.1.2.3/"},
    )
    assert response.status_code == 422
    assert [e["field"] for e in problem(response)["errors"]] == ["callback_url"]


def test_notify_fields_are_refused_inside_batch_items(client):
    response = post(
        client,
        "/api/calculations",
        {"items": [{"equation": "fibonacci", "n": 1, "callback_url": HOOK}]},
    )
    assert response.status_code == 422
    assert problem(response)["errors"][0]["field"] == "items[0].callback_url"


def test_email_to_any_address_follows_the_setting_but_a_users_own_always_works(client, settings):
    settings.CALCQUEUE_NOTIFY_ANY_EMAIL = False
    body = {"equation": "fibonacci", "n": 39, "notify_email": "ada@example.com"}
    response = post(client, "/api/calculations", body)
    assert response.status_code == 422
    assert problem(response)["errors"] == [
        {
            "field": "notify_email",
            "message": "Email goes only to the address of your account here: sign in.",
        }
    ]
    client.force_login(User.objects.create_user("ada", email="ada@example.com"))
    assert post(client, "/api/calculations", body).status_code == 202
    for bad in ("nobody", "a@b", "x" * 300):
        answer = post(client, "/api/calculations", body | {"notify_email": bad})
        assert answer.status_code == 422


def test_get_shows_every_attempt_and_resend_sends_a_failed_delivery_again(
    client, django_capture_on_commit_callbacks, monkeypatch
):
    from notifications import services

    published = []
    monkeypatch.setattr(services, "_publish", lambda ids, countdown: published.extend(ids))
    calculation = make_success("55")
    (subscription,) = services.subscriptions_create(
        calculations=[calculation],
        targets=[WebhookTarget(url=HOOK, secret="whsec_x")],
    )
    delivery = Delivery.objects.create(
        subscription=subscription, calculation=calculation, status=Delivery.Status.FAILED
    )
    DeliveryAttempt.objects.create(
        delivery=delivery,
        started_at=timezone.now(),
        duration_seconds=0.25,
        status_code=404,
        error="HTTP 404 Not Found",
        outcome="failed",
    )
    (notification,) = client.get(f"/api/calculations/{calculation.pk}").json()["notifications"]
    assert notification["status"] == "FAILED"
    assert notification["attempts"][0] | {"started_at": None} == {
        "started_at": None,
        "duration_seconds": 0.25,
        "status_code": 404,
        "error": "HTTP 404 Not Found",
        "outcome": "failed",
    }
    resend = notification["links"]["resend"]
    assert resend == f"/api/calculations/{calculation.pk}/notifications/{subscription.pk}/resend"

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(resend, content_type="application/json")
    assert response.status_code == 202 and response.json()["status"] == "PENDING"
    assert published == [str(delivery.pk)]
    again = client.post(resend, content_type="application/json")
    assert again.status_code == 409 and "this one is PENDING" in problem(again)["detail"]


def test_resend_of_an_unknown_notification_is_404(client):
    calculation = make_finished(Calculation.Status.SUCCESS)
    response = client.post(
        f"/api/calculations/{calculation.pk}/notifications/{calculation.pk}/resend",
        content_type="application/json",
    )
    assert response.status_code == 404 and problem(response)
