import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import ValidationError

from notifications.targets import (
    EmailTarget,
    WebhookTarget,
    email_target,
    targets_from_request,
    webhook_target,
)


@pytest.fixture
def ada(db) -> User:
    return User.objects.create_user("ada", email="Ada@Example.com", password="x")


def test_email_target_accepts_the_signed_in_users_own_address_even_when_others_are_not(
    ada, settings
):
    settings.CALCQUEUE_NOTIFY_ANY_EMAIL = False
    assert email_target(address="ada@example.com", user=ada) == EmailTarget("ada@example.com")
    with pytest.raises(ValidationError, match="address of your account"):
        email_target(address="bob@example.com", user=ada)
    with pytest.raises(ValidationError, match="sign in"):
        email_target(address="ada@example.com", user=AnonymousUser())


def test_email_target_accepts_any_valid_address_where_allowed(settings):
    settings.CALCQUEUE_NOTIFY_ANY_EMAIL = True
    assert email_target(address=" bob@example.com ") == EmailTarget("bob@example.com")
    for bad in ("", "bob", "bob@", "@example.com", "bob@exa mple.com", "a" * 250 + "@x.io"):
        with pytest.raises(ValidationError):
            email_target(address=bad)


def test_webhook_target_brings_a_new_secret_unless_given_one(settings):
    settings.CALCQUEUE_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    first = webhook_target(url="http://127.0.0.1:9000/hook")
    second = webhook_target(url="http://127.0.0.1:9000/hook")
    assert first.secret != second.secret and first.secret.startswith("whsec_")
    given = webhook_target(url="http://127.0.0.1:9000/hook", secret="whsec_token_default")
    assert given == WebhookTarget("http://127.0.0.1:9000/hook", "whsec_token_default")


def test_targets_from_request_names_every_field_at_fault(settings):
    settings.CALCQUEUE_NOTIFY_ANY_EMAIL = False
    with pytest.raises(ValidationError) as refused:
        targets_from_request(notify_email="bob@example.com", callback_url="http://localhost/")
    assert set(refused.value.message_dict) == {"notify_email", "callback_url"}
    assert "loopback" in refused.value.message_dict["callback_url"][0]
    assert targets_from_request() == []
