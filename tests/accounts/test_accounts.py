"""Sign-up, login (which adopts the session's anonymous calculations), logout, password
change, and anonymous use switched off."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from accounts.callers import SESSION_FIELD
from calculations.models import Calculation

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple 7"


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    from calculations import services

    monkeypatch.setattr(services, "_enqueue", lambda calculations: None)


def submit_anonymously(client: Client, text: str = "39, 4") -> list[Calculation]:
    assert client.post("/", {"equation": "fibonacci", "n": text}).status_code == 302
    return list(Calculation.objects.filter(anonymous_key=client.session[SESSION_FIELD]))


def test_sign_up_creates_the_user_signs_in_and_adopts_the_session_calculations():
    client = Client()
    made = submit_anonymously(client)
    response = client.post(
        "/account/signup/",
        {"username": "newcomer", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 302
    user = get_user_model().objects.get(username="newcomer")
    assert {c.owner_id for c in Calculation.objects.filter(pk__in=[c.pk for c in made])} == {
        user.pk
    }
    assert not Calculation.objects.exclude(anonymous_key="").exists()
    page = client.get("/").content.decode()
    assert "newcomer" in page and all(str(c.pk) in page for c in made)


def test_sign_up_refuses_a_weak_password_with_the_form():
    response = Client().post(
        "/account/signup/", {"username": "weak", "password1": "123", "password2": "123"}
    )
    assert response.status_code == 400
    assert "too short" in response.content.decode()
    assert not get_user_model().objects.filter(username="weak").exists()


def test_sign_up_can_be_switched_off(settings):
    settings.CALCQUEUE_SIGNUP_ENABLED = False
    client = Client()
    assert client.get("/account/signup/").status_code == 404
    assert (
        client.post(
            "/account/signup/", {"username": "x", "password1": PASSWORD, "password2": PASSWORD}
        ).status_code
        == 404
    )
    assert "Sign up" not in client.get("/account/login/").content.decode()


def test_login_adopts_the_session_calculations_and_logout_forgets_them(django_user_model):
    user = django_user_model.objects.create_user("returning", password=PASSWORD)
    client = Client()
    made = submit_anonymously(client)
    stranger = Client()
    theirs = submit_anonymously(stranger, "7")
    response = client.post("/account/login/", {"username": "returning", "password": PASSWORD})
    assert response.status_code == 302
    assert set(Calculation.objects.filter(owner=user).values_list("pk", flat=True)) == {
        c.pk for c in made
    }
    assert Calculation.objects.get(pk=theirs[0].pk).owner is None  # another session's stay
    assert client.post("/account/logout/").status_code == 302
    page = client.get("/").content.decode()
    assert "Sign in" in page and not any(str(c.pk) in page for c in made)


def test_login_with_a_wrong_password_is_refused(django_user_model):
    django_user_model.objects.create_user("someone", password=PASSWORD)
    response = Client().post("/account/login/", {"username": "someone", "password": "nope"})
    assert response.status_code == 200
    assert "correct username and password" in response.content.decode()


def test_password_change_needs_the_old_password(django_user_model):
    user = django_user_model.objects.create_user("changer", password=PASSWORD)
    client = Client()
    client.force_login(user)
    new = "another long passphrase 8"
    refused = client.post(
        "/account/password/",
        {"old_password": "wrong", "new_password1": new, "new_password2": new},
    )
    assert refused.status_code == 200 and "incorrectly" in refused.content.decode()
    response = client.post(
        "/account/password/",
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
    )
    assert response.status_code == 302 and response["Location"] == "/account/password/done/"
    user.refresh_from_db()
    assert user.check_password(new)
    assert client.get("/account/password/done/").status_code == 200


def test_password_change_and_tokens_need_a_signed_in_user():
    client = Client()
    for path in ("/account/password/", "/account/tokens/"):
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/account/login/?next=")


def test_without_anonymous_use_pages_send_to_login_and_the_api_answers_401(settings):
    settings.CALCQUEUE_ALLOW_ANONYMOUS = False
    client = Client()
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == "/account/login/?next=/"
    assert client.post("/", {"equation": "fibonacci", "n": "5"}).status_code == 302
    assert client.get("/account/login/").status_code == 200
    for method, path in [("get", "/api/calculations"), ("get", "/api/equations")]:
        response = getattr(client, method)(path)
        assert response.status_code == 401
        assert response["Content-Type"] == "application/problem+json"
    response = client.post(
        "/api/calculations", {"equation": "fibonacci", "n": 5}, content_type="application/json"
    )
    assert response.status_code == 401
    assert not Calculation.objects.exists()


def test_anonymous_api_caller_is_known_by_the_session_cookie_its_first_answer_sets():
    program = Client(enforce_csrf_checks=True)
    response = program.post(
        "/api/calculations", {"equation": "fibonacci", "n": 39}, content_type="application/json"
    )
    assert response.status_code == 202 and "sessionid" in response.cookies
    calculation_id = response.json()["id"]
    assert program.get(f"/api/calculations/{calculation_id}").status_code == 200
    assert [c["id"] for c in program.get("/api/calculations").json()["items"]] == [calculation_id]
    assert Client().get(f"/api/calculations/{calculation_id}").status_code == 404
    assert program.get(f"/calculations/{calculation_id}/").status_code == 200  # the pages too
