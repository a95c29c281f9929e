"""An API token's default callback: set with the token (checked as any callback URL is), and
given to the token's submissions that name no callback_url of their own."""

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError

from accounts import services as account_services
from accounts.models import ApiToken
from notifications.models import Subscription
from notifications.targets import WebhookTarget, targets_from_request
from tests.api.test_endpoints import post, problem

pytestmark = pytest.mark.django_db
HOOK = "http://127.0.0.1:9000/hooks/calcqueue"
OTHER_HOOK = "http://127.0.0.1:9001/other"


@pytest.fixture(autouse=True)
def allowed(settings, monkeypatch):
    from calculations import services

    monkeypatch.setattr(services, "_enqueue", lambda calculations: None)
    settings.CALCQUEUE_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]


@pytest.fixture
def ada(db) -> User:
    return User.objects.create_user("ada", password="a long enough password")


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


# --- The token -------------------------------------------------------------------------------


def test_api_token_create_keeps_a_checked_callback_with_a_secret_of_its_own(ada):
    first = account_services.api_token_create(user=ada, name="hooked", callback_url=HOOK).token
    second = account_services.api_token_create(user=ada, name="hooked", callback_url=HOOK).token
    assert first.callback_url == HOOK and first.callback_secret.startswith("whsec_")
    assert first.callback_secret != second.callback_secret


def test_api_token_create_without_a_callback_has_none(ada):
    token = account_services.api_token_create(user=ada, name="plain").token
    assert (token.callback_url, token.callback_secret) == ("", "")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://[::1]:9000/", "a loopback address"),
        ("http://10.0.0.1/", "a private address"),
        ("http://169.254.169.254/latest/meta-data/", "a link-local address"),
        ("gopher://127.0.0.1:6379/", "http:// or https://"),
    ],
)
def test_api_token_create_refuses_a_callback_a_webhook_may_not_reach(ada, url, reason):
    with pytest.raises(ValidationError) as refused:
        account_services.api_token_create(user=ada, name="bad", callback_url=url)
    assert reason in refused.value.messages[0]
    assert not ApiToken.objects.exists()


def test_tokens_page_sets_the_callback_and_shows_its_secret_once(client, ada):
    client.force_login(ada)
    response = client.post("/account/tokens/", {"name": "hooked", "callback_url": HOOK})
    assert response.status_code == 200
    token = ApiToken.objects.get()
    page = response.content.decode()
    assert token.callback_url == HOOK
    assert f'<pre class="token-secret" id="callback-secret">{token.callback_secret}</pre>' in page
    later = client.get("/account/tokens/").content.decode()
    assert token.callback_secret not in later
    assert f"<code>{HOOK}</code>" in later


def test_tokens_page_refuses_a_private_callback_and_creates_no_token(client, ada):
    client.force_login(ada)
    response = client.post(
        "/account/tokens/", {"name": "bad", "callback_url": "http://192.168.1.1/hook"}
    )
    assert response.status_code == 400
    assert "192.168.1.1, a private address" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_tokens_page_without_a_callback_creates_a_plain_token(client, ada):
    client.force_login(ada)
    response = client.post("/account/tokens/", {"name": "plain", "callback_url": ""})
    assert response.status_code == 200
    assert ApiToken.objects.get().callback_url == ""
    assert 'id="callback-secret"' not in response.content.decode()


# --- Which target a request gets -------------------------------------------------------------


def test_targets_from_request_gives_the_token_s_default_when_no_callback_is_named(ada):
    token = account_services.api_token_create(user=ada, name="t", callback_url=HOOK).token
    assert targets_from_request(api_token=token) == [WebhookTarget(HOOK, token.callback_secret)]
    (own,) = targets_from_request(callback_url=OTHER_HOOK, api_token=token)
    assert own.url == OTHER_HOOK and own.secret != token.callback_secret
    plain = account_services.api_token_create(user=ada, name="plain").token
    assert targets_from_request(api_token=plain) == []


def test_targets_from_request_checks_the_token_s_default_again(ada, settings):
    token = account_services.api_token_create(user=ada, name="t", callback_url=HOOK).token
    # What was allowed when the token was made may not be now (here: the exemption).
    settings.CALCQUEUE_WEBHOOK_ALLOWED_HOSTS = []
    with pytest.raises(ValidationError) as refused:
        targets_from_request(api_token=token)
    (message,) = refused.value.message_dict["callback_url"]
    assert message.startswith("The default callback of your API token: Refused: 127.0.0.1")


# --- Submissions through the API -------------------------------------------------------------


def test_submission_with_the_token_subscribes_its_default_without_showing_the_secret(client, ada):
    new = account_services.api_token_create(user=ada, name="t", callback_url=HOOK)
    response = post(
        client, "/api/calculations", {"equation": "fibonacci", "n": 39}, **bearer(new.secret)
    )
    assert response.status_code == 202, response.content
    (notification,) = response.json()["notifications"]
    assert (notification["kind"], notification["target"]) == ("webhook", HOOK)
    # Shown once already, with the token.
    assert notification["signing_secret"] is None
    subscription = Subscription.objects.get()
    assert (subscription.target, subscription.secret) == (HOOK, new.token.callback_secret)


def test_submission_naming_its_own_callback_gets_that_one_only(client, ada):
    new = account_services.api_token_create(user=ada, name="t", callback_url=HOOK)
    response = post(
        client,
        "/api/calculations",
        {"items": [{"equation": "fibonacci", "n": 5}], "callback_url": OTHER_HOOK},
        **bearer(new.secret),
    )
    assert response.status_code == 202, response.content
    (notification,) = response.json()["items"][0]["notifications"]
    subscription = Subscription.objects.get()
    assert notification["target"] == subscription.target == OTHER_HOOK
    assert notification["signing_secret"] == subscription.secret != new.token.callback_secret


def test_submission_without_a_token_gets_no_default(client, ada):
    account_services.api_token_create(user=ada, name="t", callback_url=HOOK)
    client.force_login(ada)
    response = post(client, "/api/calculations", {"equation": "fibonacci", "n": 5})
    assert response.status_code == 202 and response.json()["notifications"] == []
    assert not Subscription.objects.exists()


def test_submission_whose_default_is_refused_now_is_422_naming_callback_url(client, ada, settings):
    new = account_services.api_token_create(user=ada, name="t", callback_url=HOOK)
    settings.CALCQUEUE_WEBHOOK_ALLOWED_HOSTS = []
    response = post(
        client, "/api/calculations", {"equation": "fibonacci", "n": 5}, **bearer(new.secret)
    )
    assert response.status_code == 422
    (error,) = problem(response)["errors"]
    assert error["field"] == "callback_url"
    assert "default callback of your API token" in error["message"]
    assert not Subscription.objects.exists()
