"""CSRF: every form refuses a POST without the token (403) and accepts it with the token;
the API checks it on writes that carry the session cookie, never on token requests."""

import pytest
from django.test import Client

from accounts import services as account_services
from accounts.models import ApiToken
from calculations.models import Calculation
from notifications import services as notification_services
from notifications.models import Delivery
from notifications.targets import WebhookTarget
from tests.calculations.factories import make_calculation, make_finished

pytestmark = pytest.mark.django_db
S = Calculation.Status
PASSWORD = "correct horse battery staple 7"


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    from calculations import services

    monkeypatch.setattr(services, "_enqueue", lambda calculations: None)
    monkeypatch.setattr(notification_services, "_publish", lambda ids, countdown: None)


def failed_delivery(owner) -> Delivery:
    """A failed webhook delivery of one of the owner's calculations: "Send again" applies."""
    calculation = make_finished(S.ERROR, owner=owner, error="boom")
    (subscription,) = notification_services.subscriptions_create(
        calculations=[calculation], targets=[WebhookTarget(url="https://x.example/h", secret="s")]
    )
    return Delivery.objects.create(
        subscription=subscription, calculation=calculation, status=Delivery.Status.FAILED
    )


def browser(user=None) -> Client:
    client = Client(enforce_csrf_checks=True)
    if user is not None:
        client.force_login(user)
    return client


def csrf_token(client: Client, page: str = "/") -> str:
    client.get(page)
    return client.cookies["csrftoken"].value


def forms(owner):
    """(page that shows the form, URL it posts to, data, status when accepted)."""
    pending = make_calculation(owner=owner)
    failed = make_finished(S.ERROR, owner=owner)
    token = account_services.api_token_create(user=owner, name="t").token
    delivery = failed_delivery(owner)
    notified = delivery.calculation_id
    return [
        ("/", "/", {"equation": "fibonacci", "n": "5"}, 302),
        ("/", f"/calculations/{pending.pk}/cancel/", {}, 302),
        (f"/calculations/{failed.pk}/", f"/calculations/{failed.pk}/retry/", {}, 302),
        ("/account/tokens/", "/account/tokens/", {"name": "x"}, 200),
        ("/account/tokens/", f"/account/tokens/{token.pk}/revoke/", {}, 302),
        (
            f"/calculations/{notified}/",
            f"/calculations/{notified}/notifications/{delivery.subscription_id}/resend/",
            {},
            302,
        ),
        (
            "/account/password/",
            "/account/password/",
            {"old_password": PASSWORD, "new_password1": PASSWORD, "new_password2": PASSWORD},
            302,
        ),
        ("/", "/account/logout/", {}, 302),
    ]


FORM_COUNT = 8


@pytest.mark.parametrize("index", range(FORM_COUNT))
def test_each_signed_in_form_needs_the_csrf_token(django_user_model, index):
    owner = django_user_model.objects.create_user("owner", password=PASSWORD)
    page, url, data, accepted = forms(owner)[index]
    client = browser(owner)
    assert client.post(url, data).status_code == 403
    token = csrf_token(client, page)
    assert client.post(url, {**data, "csrfmiddlewaretoken": token}).status_code == accepted


@pytest.mark.parametrize(
    ("page", "data"),
    [
        ("/account/login/", {"username": "owner", "password": PASSWORD}),
        ("/account/signup/", {"username": "new", "password1": PASSWORD, "password2": PASSWORD}),
        ("/admin/login/", {"username": "owner", "password": PASSWORD}),
    ],
)
def test_each_anonymous_form_needs_the_csrf_token(django_user_model, page, data):
    django_user_model.objects.create_user("owner", password=PASSWORD, is_staff=True)
    client = browser()
    assert client.post(page, data).status_code == 403
    token = csrf_token(client, page)
    assert client.post(page, {**data, "csrfmiddlewaretoken": token}).status_code == 302


def test_anonymous_submission_form_needs_the_csrf_token():
    client = browser()
    assert client.post("/", {"equation": "fibonacci", "n": "5"}).status_code == 403
    assert not Calculation.objects.exists()
    token = csrf_token(client)
    response = client.post("/", {"equation": "fibonacci", "n": "5", "csrfmiddlewaretoken": token})
    assert response.status_code == 302 and Calculation.objects.count() == 1


API_WRITES = [
    ("post", "/api/calculations", '{"equation": "fibonacci", "n": 5}', 202, None),
    ("post", "/api/calculations/{pending}/cancel", "", 200, "pending"),
    ("post", "/api/calculations/{failed}/retry", "", 202, "failed"),
    ("delete", "/api/calculations/{pending}", None, 204, "pending"),
    ("post", "/api/calculations/{notified}/notifications/{nid}/resend", "", 202, "notified"),
]


@pytest.mark.parametrize(("method", "path", "body", "accepted", "target"), API_WRITES)
def test_api_writes_with_the_session_cookie_need_the_csrf_token(
    django_user_model, method, path, body, accepted, target
):
    owner = django_user_model.objects.create_user("owner")
    delivery = failed_delivery(owner)
    url = path.format(
        pending=make_calculation(owner=owner).pk,
        failed=make_finished(S.ERROR, owner=owner).pk,
        notified=delivery.calculation_id,
        nid=delivery.subscription_id,
    )
    client = browser(owner)
    kwargs = {"data": body, "content_type": "application/json"} if body is not None else {}
    refused = getattr(client, method)(url, **kwargs)
    assert refused.status_code == 403
    assert refused["Content-Type"] == "application/problem+json"
    assert "CSRF" in refused.json()["detail"]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.resends) == (Delivery.Status.FAILED, 0)
    token = csrf_token(client)
    response = getattr(client, method)(url, **kwargs, headers={"X-CSRFToken": token})
    assert response.status_code == accepted, response.content


def test_api_writes_with_a_token_or_without_any_cookie_need_no_csrf_token(django_user_model):
    owner = django_user_model.objects.create_user("owner")
    secret = account_services.api_token_create(user=owner, name="t").secret
    program = Client(enforce_csrf_checks=True, headers={"Authorization": f"Bearer {secret}"})
    body = {"equation": "fibonacci", "n": 5}
    assert (
        program.post("/api/calculations", body, content_type="application/json").status_code == 202
    )
    stranger = Client(enforce_csrf_checks=True)
    assert (
        stranger.post("/api/calculations", body, content_type="application/json").status_code == 202
    )
    assert Calculation.objects.filter(owner=owner).count() == 1
    assert ApiToken.objects.count() == 1


def admin_actions(staff):
    """(changelist, action, the row it acts on, how to tell it was done)."""
    pending = make_calculation(owner=staff)
    failed = make_finished(S.ERROR, owner=staff)
    delivery = failed_delivery(staff)
    return [
        (
            "/admin/calculations/calculation/",
            "cancel_calculations",
            pending.pk,
            lambda: Calculation.objects.get(pk=pending.pk).status == S.CANCELLED,
        ),
        (
            "/admin/calculations/calculation/",
            "retry_calculations",
            failed.pk,
            lambda: Calculation.objects.filter(retry_of=failed).exists(),
        ),
        (
            "/admin/notifications/delivery/",
            "resend_deliveries",
            delivery.pk,
            lambda: Delivery.objects.get(pk=delivery.pk).status == Delivery.Status.PENDING,
        ),
    ]


ADMIN_ACTION_COUNT = 3


@pytest.mark.parametrize("index", range(ADMIN_ACTION_COUNT))
def test_each_admin_action_needs_the_csrf_token(django_user_model, index):
    staff = django_user_model.objects.create_superuser("admin", password=PASSWORD)
    changelist, action, pk, done = admin_actions(staff)[index]
    data = {"action": action, "_selected_action": [pk]}
    client = browser(staff)

    assert client.post(changelist, data).status_code == 403
    assert not done()
    token = csrf_token(client, changelist)
    response = client.post(changelist, {**data, "csrfmiddlewaretoken": token})
    assert response.status_code == 302 and response["Location"] == changelist
    assert done()
