import pytest


@pytest.fixture
def client(client, django_user_model):
    """A signed-in user's browser session (the signed-in bounds on n apply)."""
    client.force_login(django_user_model.objects.create_user("integration"))
    return client
