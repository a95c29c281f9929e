"""Personal API tokens: created and shown once, stored as a digest, listed, revoked."""

import hashlib

import pytest

from accounts.models import ApiToken
from tests.accounts.conftest import bearer, signed_in

pytestmark = pytest.mark.django_db


def test_creating_a_token_shows_it_once_and_stores_only_its_digest(owner):
    client = signed_in(owner)
    response = client.post("/account/tokens/", {"name": "nightly"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    token = ApiToken.objects.get(user=owner)
    html = response.content.decode()
    secret = html.split('id="token-secret">')[1].split("<")[0]
    assert secret.startswith("cq_") and len(secret) >= 40
    assert token.digest == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in {token.prefix, token.name, token.digest} and secret.startswith(
        token.prefix
    )
    listing = client.get("/account/tokens/").content.decode()
    assert "nightly" in listing and token.prefix in listing and secret not in listing
    assert bearer(secret).get("/api/calculations").status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_a_token_without_a_name_is_refused(owner):
    response = signed_in(owner).post("/account/tokens/", {"name": ""})
    assert response.status_code == 400 and not ApiToken.objects.exists()


def test_revoking_a_token_refuses_it_at_once(owner, owner_token):
    client = signed_in(owner)
    token = ApiToken.objects.get(user=owner)
    assert bearer(owner_token).get("/api/calculations").status_code == 200
    response = client.post(f"/account/tokens/{token.pk}/revoke/")
    assert response.status_code == 302
    refused = bearer(owner_token).get("/api/calculations")
    assert refused.status_code == 401
    assert refused.json()["detail"] == "This API token is unknown or revoked."
    assert "revoked" in client.get("/account/tokens/").content.decode()


def test_nobody_revokes_or_lists_another_users_token(owner, other, owner_token):
    token = ApiToken.objects.get(user=owner)
    client = signed_in(other)
    assert client.post(f"/account/tokens/{token.pk}/revoke/").status_code == 404
    assert token.prefix not in client.get("/account/tokens/").content.decode()
    assert bearer(owner_token).get("/api/calculations").status_code == 200


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token cq_abc", "Bearer not-a-token"],
)
def test_a_malformed_authorization_header_is_401_never_anonymous(header):
    from django.test import Client

    response = Client(headers={"Authorization": header}).get("/api/calculations")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_token_of_a_deactivated_user_is_refused(owner, owner_token):
    owner.is_active = False
    owner.save()
    assert bearer(owner_token).get("/api/calculations").status_code == 401
