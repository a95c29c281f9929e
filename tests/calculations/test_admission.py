"""Cost limits on submissions: the per-caller rate limit (counted in the real Redis) and the
queue's backpressure each refuse at the configured number, with Retry-After, on the form and
the API, and let submissions in again afterwards."""

import itertools
import json
import re
import time
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts import services as account_services
from calculations import selectors
from calculations.models import Calculation
from tests.calculations.factories import make_calculation

pytestmark = pytest.mark.django_db
S = Calculation.Status
_addresses = (f"198.51.100.{n}" for n in itertools.count(1))


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    from calculations import services

    monkeypatch.setattr(services, "_enqueue", lambda calculations: None)


@pytest.fixture
def broker_url(broker_url):
    """The real Redis, without the counters of an earlier run (same users, same addresses)."""
    from django.core.cache import cache

    client = cache._cache.get_client(write=True)
    for key in client.scan_iter(match=cache.make_key("ratelimit:*")):
        client.delete(key)
    return broker_url


def at_window_start(period: int) -> None:
    """Sleep to just after a window boundary, so a test's requests share one window."""
    time.sleep(period - time.time() % period + 0.02)


def form_post(client: Client, n: str = "5"):
    return client.post("/", {"equation": "fibonacci", "n": n})


def api_post(client: Client, n: int = 5):
    return client.post(
        "/api/calculations", json.dumps({"equation": "fibonacci", "n": n}), "application/json"
    )


def test_form_rate_limit_refuses_the_request_after_the_limit_then_recovers(broker_url, settings):
    settings.CALCQUEUE_RATE_LIMIT_ANONYMOUS = (3, 2)
    client = Client(REMOTE_ADDR=next(_addresses))
    at_window_start(2)
    assert [form_post(client).status_code for _ in range(3)] == [302] * 3
    refused = form_post(client, "6")
    assert refused.status_code == 429
    retry_after = int(refused["Retry-After"])
    assert 1 <= retry_after <= 2
    assert "Too many submissions: at most 3 every 2 s" in refused.content.decode()
    assert not Calculation.objects.filter(n=6).exists()
    time.sleep(retry_after)
    assert form_post(client, "6").status_code == 302
    print(f"\nform: 3 accepted, the 4th refused with Retry-After {retry_after}, accepted after it")


def test_api_rate_limit_counts_by_user_whatever_the_address(broker_url, settings, owner_token):
    settings.CALCQUEUE_RATE_LIMIT_SIGNED_IN = (2, 2)
    at_window_start(2)
    first = Client(REMOTE_ADDR=next(_addresses), headers={"Authorization": f"Bearer {owner_token}"})
    second = Client(
        REMOTE_ADDR=next(_addresses), headers={"Authorization": f"Bearer {owner_token}"}
    )
    assert api_post(first).status_code == 202
    assert api_post(second).status_code == 202
    refused = api_post(first)
    assert refused.status_code == 429
    assert refused["Content-Type"] == "application/problem+json"
    assert refused.json()["status"] == 429 and "at most 2 every 2 s" in refused.json()["detail"]
    assert 1 <= int(refused["Retry-After"]) <= 2
    time.sleep(int(refused["Retry-After"]))
    assert api_post(second).status_code == 202


def test_rate_limit_of_one_caller_leaves_others_alone(broker_url, settings, django_user_model):
    settings.CALCQUEUE_RATE_LIMIT_ANONYMOUS = (1, 60)
    settings.CALCQUEUE_RATE_LIMIT_SIGNED_IN = (1, 60)
    address = next(_addresses)
    anonymous = Client(REMOTE_ADDR=address)
    assert form_post(anonymous).status_code == 302
    assert form_post(anonymous).status_code == 429
    assert form_post(Client(REMOTE_ADDR=next(_addresses))).status_code == 302
    user = Client(REMOTE_ADDR=address)  # the same address, signed in: counted as the user
    user.force_login(django_user_model.objects.create_user("limited"))
    assert form_post(user).status_code == 302
    staff = Client(REMOTE_ADDR=address)
    staff.force_login(django_user_model.objects.create_user("operator", is_staff=True))
    assert [form_post(staff).status_code for _ in range(3)] == [302] * 3


def test_rate_limit_counts_retries_too(broker_url, settings, django_user_model):
    settings.CALCQUEUE_RATE_LIMIT_SIGNED_IN = (1, 60)
    user = django_user_model.objects.create_user("retrier")
    client = Client()
    client.force_login(user)
    failed = [
        make_calculation(owner=user, status=S.ERROR, finished_at=timezone.now()) for _ in "ab"
    ]
    assert (
        client.post(
            f"/api/calculations/{failed[0].pk}/retry", content_type="application/json"
        ).status_code
        == 202
    )
    refused = client.post(f"/calculations/{failed[1].pk}/retry/")
    assert refused.status_code == 429 and refused.has_header("Retry-After")
    assert "Too many submissions" in refused.content.decode()


def test_rate_limit_lets_submissions_through_when_redis_cannot_be_reached(settings, caplog):
    settings.CALCQUEUE_RATE_LIMIT_ANONYMOUS = (1, 60)
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "unix:///nonexistent/redis.sock",
        }
    }
    client = Client()
    assert [form_post(client).status_code for _ in range(2)] == [302, 302]
    assert "rate limit submit not checked (cache unavailable)" in caplog.text


def test_backpressure_refuses_at_the_configured_number_of_unfinished_then_recovers(settings):
    settings.CALCQUEUE_BACKPRESSURE_MAX_UNFINISHED = 3
    settings.CALCQUEUE_BACKPRESSURE_RETRY_AFTER_SECONDS = 17
    make_calculation(status=S.RUNNING)
    make_calculation()
    client = Client()
    assert form_post(client).status_code == 302  # 2 unfinished: admitted, now 3
    status = selectors.backpressure_status()
    assert status.active and status.unfinished == 3 and status.max_unfinished == 3
    refused = form_post(client, "6")
    assert refused.status_code == 503 and refused["Retry-After"] == "17"
    assert "The queue is full (3 calculations unfinished, bound 3)" in refused.content.decode()
    refused = api_post(client, 6)
    assert refused.status_code == 503 and refused["Retry-After"] == "17"
    assert refused["Content-Type"] == "application/problem+json"
    assert not Calculation.objects.filter(n=6).exists()
    Calculation.objects.filter(status=S.RUNNING).update(status=S.SUCCESS)
    assert not selectors.backpressure_status().active
    assert api_post(client, 6).status_code == 202


def test_backpressure_refuses_while_the_oldest_pending_waits_too_long(settings):
    settings.CALCQUEUE_BACKPRESSURE_MAX_WAIT_SECONDS = 60
    old = make_calculation(created_at=timezone.now() - timedelta(seconds=90))
    status = selectors.backpressure_status()
    assert status.active and 89 < status.oldest_pending_seconds < 120
    refused = form_post(Client())
    assert refused.status_code == 503
    assert re.search(r"the oldest pending calculation has waited 9\d s, bound 60 s", refused.text)
    Calculation.objects.filter(pk=old.pk).update(status=S.CANCELLED)
    assert form_post(Client()).status_code == 302


def test_backpressure_off_when_its_bounds_are_zero(settings, django_assert_num_queries):
    settings.CALCQUEUE_BACKPRESSURE_MAX_UNFINISHED = 0
    settings.CALCQUEUE_BACKPRESSURE_MAX_WAIT_SECONDS = 0
    make_calculation(created_at=timezone.now() - timedelta(days=1))
    with django_assert_num_queries(0):  # a bound that is off costs a submission nothing
        assert not selectors.backpressure_status().active
    assert form_post(Client()).status_code == 302


@pytest.fixture
def owner_token(django_user_model) -> str:
    user = django_user_model.objects.create_user("token-owner")
    return account_services.api_token_create(user=user, name="t").secret
