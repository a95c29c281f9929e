"""Anonymous callers have lower bounds on n than signed-in users, on the form and the API."""

import json

import pytest
from django.test import Client

from tests.accounts.conftest import signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    from calculations import services

    monkeypatch.setattr(services, "_enqueue", lambda calculations: None)


def test_anonymous_bound_is_a_tenth_of_the_signed_in_one_unless_configured(owner, settings):
    settings.CALCQUEUE_ANON_MAX_N = {"factorial": 1234}
    anonymous = Client().get("/api/equations").json()
    user = signed_in(owner).get("/api/equations").json()
    by_key = {e["key"]: e for e in anonymous}
    assert by_key["fibonacci"]["max_n"] == 1_000_000
    assert by_key["fibonacci"]["max_n_signed_in"] == 10_000_000
    assert by_key["factorial"]["max_n"] == by_key["factorial"]["max_n_anonymous"] == 1234
    assert {e["key"]: e["max_n"] for e in user}["fibonacci"] == 10_000_000


def test_form_shows_and_applies_the_callers_bound(owner):
    page = Client().get("/").content.decode()
    assert "Fibonacci number F(n) (n ≤ 1,000,000)" in page
    assert "Signed in: to 10,000,000." in page
    refused = Client().post("/", {"equation": "fibonacci", "n": "1000001"})
    assert refused.status_code == 400
    assert (
        "takes n from 0 to 1,000,000 (signed in: to 10,000,000); out of range: 1000001."
        in refused.content.decode()
    )
    client = signed_in(owner)
    assert "(n ≤ 10,000,000)" in client.get("/").content.decode()
    assert client.post("/", {"equation": "fibonacci", "n": "1000001"}).status_code == 302


def test_api_applies_the_callers_bound(owner):
    body = json.dumps({"equation": "fibonacci", "n": 1_000_001})
    refused = Client().post("/api/calculations", body, "application/json")
    assert refused.status_code == 422
    assert refused.json()["errors"] == [
        {
            "field": "n",
            "message": "Fibonacci number F(n) takes n from 0 to 1,000,000 "
            "(signed in: to 10,000,000); got 1,000,001.",
        }
    ]
    assert signed_in(owner).post("/api/calculations", body, "application/json").status_code == 202


def test_an_anonymous_bound_above_the_signed_in_one_is_capped(settings):
    settings.CALCQUEUE_ANON_MAX_N = {"fibonacci": 99_000_000}
    by_key = {e["key"]: e for e in Client().get("/api/equations").json()}
    assert by_key["fibonacci"]["max_n"] == 10_000_000
