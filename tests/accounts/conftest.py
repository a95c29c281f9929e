import pytest
from django.test import Client

from accounts import services as account_services


@pytest.fixture
def owner(django_user_model):
    return django_user_model.objects.create_user("owner-user")


@pytest.fixture
def other(django_user_model):
    return django_user_model.objects.create_user("other-user")


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("staff-user", is_staff=True)


def signed_in(user, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def bearer(secret: str) -> Client:
    return Client(headers={"Authorization": f"Bearer {secret}"})


@pytest.fixture
def owner_token(owner) -> str:
    return account_services.api_token_create(user=owner, name="test").secret
