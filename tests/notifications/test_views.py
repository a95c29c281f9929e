"""The form's email field, the Notifications section of a calculation's page, Send again,
and the admin action (Django's test client)."""

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from calculations.models import Calculation
from notifications import services
from notifications.models import Delivery, DeliveryAttempt, Subscription
from notifications.targets import EmailTarget, WebhookTarget
from tests.calculations.factories import make_calculation, make_finished, make_success

pytestmark = pytest.mark.django_db
D = Delivery.Status


@pytest.fixture(autouse=True)
def no_broker(monkeypatch) -> list[str]:
    from calculations import services as calculation_services

    published: list[str] = []
    monkeypatch.setattr(calculation_services, "_enqueue", lambda calculations: None)
    monkeypatch.setattr(services, "_publish", lambda ids, countdown: published.extend(ids))
    return published


def test_form_offers_a_signed_in_user_their_own_address(client, settings):
    settings.CALCQUEUE_NOTIFY_ANY_EMAIL = False
    assert "Email me" not in client.get("/").content.decode()
    client.force_login(User.objects.create_user("ada", email="ada@example.com"))
    page = client.get("/").content.decode()
    assert "Email me at ada@example.com when done" in page and 'name="notify_me"' in page
    response = client.post("/", {"equation": "fibonacci", "n": "1, 2", "notify_me": "on"})
    assert response.status_code == 302
    subscription = Subscription.objects.get()
    assert (subscription.kind, subscription.target) == ("email", "ada@example.com")
    assert subscription.calculations.count() == 2
    assert "an email to ada@example.com when done" in client.get("/").content.decode()


def test_form_takes_any_address_where_allowed_and_explains_a_bad_one(client, settings):
    settings.CALCQUEUE_NOTIFY_ANY_EMAIL = True
    assert 'name="notify_email"' in client.get("/").content.decode()
    response = client.post("/", {"equation": "fibonacci", "n": "5", "notify_email": "nobody"})
    assert response.status_code == 400
    assert "Enter a valid email address." in response.content.decode()
    assert not Calculation.objects.exists()
    response = client.post("/", {"equation": "fibonacci", "n": "5", "notify_email": "b@x.org"})
    assert response.status_code == 302 and Subscription.objects.get().target == "b@x.org"
    client.post("/", {"equation": "fibonacci", "n": "6", "notify_email": ""})
    assert Subscription.objects.count() == 1 and Calculation.objects.count() == 2


def _failed_webhook(calculation: Calculation) -> Delivery:
    (subscription,) = services.subscriptions_create(
        calculations=[calculation], targets=[WebhookTarget(url="https://x.example/h", secret="s")]
    )
    delivery = Delivery.objects.create(
        subscription=subscription, calculation=calculation, status=D.FAILED
    )
    DeliveryAttempt.objects.create(
        delivery=delivery,
        started_at=timezone.now(),
        duration_seconds=0.5,
        status_code=503,
        error="HTTP 503 Service Unavailable: down for maintenance",
        outcome="failed",
    )
    return delivery


def test_detail_page_shows_attempts_and_send_again_resends(
    client, no_broker, django_capture_on_commit_callbacks
):
    calculation = make_finished(Calculation.Status.ERROR, error="boom")
    delivery = _failed_webhook(calculation)
    page = client.get(calculation.get_absolute_url()).content.decode()
    assert "Notifications" in page and "https://x.example/h" in page
    assert 'data-status="FAILED"' in page and "down for maintenance" in page and "503" in page
    assert "hx-trigger" not in page  # final, nothing pending: no polling
    assert "<script" not in page.split("</head>")[1] and "style=" not in page
    action = f"/calculations/{calculation.pk}/notifications/{delivery.subscription_id}/resend/"
    assert f'action="{action}"' in page

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(action, follow=True)
    assert "Sending the webhook again." in response.content.decode()
    delivery.refresh_from_db()
    assert delivery.status == D.PENDING and no_broker == [str(delivery.pk)]
    page = client.get(calculation.get_absolute_url()).content.decode()
    assert 'hx-trigger="every 500ms"' in page  # polls while the notification is pending
    response = client.post(action, follow=True)
    assert "Only a failed delivery can be sent again" in response.content.decode()
    assert client.get(action).status_code == 405


def test_detail_page_says_a_batch_email_is_waiting_for_its_batch(client):
    done, running = make_success("55"), make_calculation(status="RUNNING")
    services.subscriptions_create(
        calculations=[done, running], targets=[EmailTarget(address="ada@example.com")]
    )
    page = client.get(done.get_absolute_url()).content.decode()
    assert "ada@example.com" in page and 'data-status="WAITING"' in page
    assert "once every calculation of its submission is final" in page


def test_send_again_for_an_unknown_notification_is_404(client):
    calculation = make_finished(Calculation.Status.SUCCESS)
    url = f"/calculations/{calculation.pk}/notifications/{calculation.pk}/resend/"
    assert client.post(url).status_code == 404


def test_admin_action_sends_failed_deliveries_again(
    admin_client, no_broker, django_capture_on_commit_callbacks
):
    failed = _failed_webhook(make_finished(Calculation.Status.SUCCESS))
    delivered = _failed_webhook(make_finished(Calculation.Status.SUCCESS))
    Delivery.objects.filter(pk=delivered.pk).update(status=D.DELIVERED)
    assert admin_client.get(f"/admin/notifications/delivery/{failed.pk}/change/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/notifications/delivery/",
            {"action": "resend_deliveries", "_selected_action": [failed.pk, delivered.pk]},
            follow=True,
        )
    text = response.content.decode()
    assert "Sending 1 delivery(ies) again." in text and "DELIVERED" in text
    failed.refresh_from_db()
    assert failed.status == D.PENDING and no_broker == [str(failed.pk)]
    assert admin_client.get("/admin/notifications/subscription/").status_code == 200
