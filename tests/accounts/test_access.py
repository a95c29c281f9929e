"""Who sees what: every page and API endpoint, for every kind of caller, answers the expected
status, and never shows a calculation to a caller who may not see it."""

import pytest
from django.test import Client

from accounts import services as account_services
from calculations.models import Calculation
from notifications import services as notification_services
from notifications.models import Delivery
from notifications.targets import WebhookTarget
from tests.accounts.conftest import bearer, signed_in
from tests.calculations.factories import make_calculation, make_finished, make_success
from tests.conftest import clear_cache

pytestmark = pytest.mark.django_db
S = Calculation.Status
SECRET_DIGITS = "918273645546372819918273645546"  # the target's output: unique on any page
SECRET_HOOK = "https://hooks.example/918273645546-receiver"  # its webhook's URL, as unique

CALLERS = [
    "owner",
    "owner_token",
    "staff",
    "other_user",
    "other_token",
    "anonymous",
    "bad_token",
    "revoked_token",
]
# Who may see and act on the owner's calculations.
SEES = {"owner", "owner_token", "staff"}
REFUSED_TOKENS = {"bad_token", "revoked_token"}
# The pages know the browser's session only: a token there is an anonymous visitor.
PAGE_SEES = {"owner", "staff"}


@pytest.fixture
def world(owner, other, staff, enqueued):
    """The owner's calculations (one per action), a failed webhook delivery of the successful
    one, and a client for each kind of caller."""
    success = make_success(SECRET_DIGITS, owner=owner)
    (subscription,) = notification_services.subscriptions_create(
        calculations=[success], targets=[WebhookTarget(url=SECRET_HOOK, secret="s")]
    )
    delivery = Delivery.objects.create(
        subscription=subscription, calculation=success, status=Delivery.Status.FAILED
    )
    failed = make_finished(S.ERROR, owner=owner, error="boom")
    pending = make_calculation(owner=owner)
    revoked = account_services.api_token_create(user=owner, name="old")
    account_services.api_token_revoke(user=owner, token_id=revoked.token.pk)
    clients = {
        "owner": signed_in(owner),
        "owner_token": bearer(account_services.api_token_create(user=owner, name="t").secret),
        "staff": signed_in(staff),
        "other_user": signed_in(other),
        "other_token": bearer(account_services.api_token_create(user=other, name="t").secret),
        "anonymous": Client(),
        "bad_token": bearer("cq_" + "x" * 43),
        "revoked_token": bearer(revoked.secret),
    }
    return {
        "success": success,
        "failed": failed,
        "pending": pending,
        "subscription": subscription,
        "delivery": delivery,
        "clients": clients,
    }


@pytest.fixture
def enqueued(monkeypatch):
    from calculations import services

    monkeypatch.setattr(services, "_enqueue", lambda calculations: None)
    monkeypatch.setattr(notification_services, "_publish", lambda ids, countdown: None)


def assert_shows_none_of_the_owners(body: bytes, world) -> None:
    for key in ("success", "failed", "pending", "subscription"):
        assert str(world[key].pk).encode() not in body, key
    assert SECRET_DIGITS.encode() not in body
    assert SECRET_HOOK.encode() not in body


def _api_expected(caller: str, allowed: int) -> int:
    if caller in REFUSED_TOKENS:
        return 401
    return allowed if caller in SEES else 404


# (name, method, path template, target, status for a caller who may act, whether the page
# knows tokens)
ENDPOINTS = [
    ("page detail", "get", "/calculations/{id}/", "success", 200, False),
    ("page output", "get", "/calculations/{id}/output.txt", "success", 200, False),
    ("page cancel", "post", "/calculations/{id}/cancel/", "pending", 302, False),
    ("page retry", "post", "/calculations/{id}/retry/", "failed", 302, False),
    ("api get", "get", "/api/calculations/{id}", "success", 200, True),
    ("api output", "get", "/api/calculations/{id}/output", "success", 200, True),
    ("api cancel", "post", "/api/calculations/{id}/cancel", "pending", 200, True),
    ("api retry", "post", "/api/calculations/{id}/retry", "failed", 202, True),
    ("api delete", "delete", "/api/calculations/{id}", "success", 204, True),
    (
        "page resend",
        "post",
        "/calculations/{id}/notifications/{nid}/resend/",
        "success",
        302,
        False,
    ),
    (
        "api resend",
        "post",
        "/api/calculations/{id}/notifications/{nid}/resend",
        "success",
        202,
        True,
    ),
]


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(
    ("name", "method", "path", "target", "allowed", "api"),
    ENDPOINTS,
    ids=[endpoint[0] for endpoint in ENDPOINTS],
)
def test_access_to_one_calculation(world, caller, name, method, path, target, allowed, api):
    calculation = world[target]
    client = world["clients"][caller]
    url = path.format(id=calculation.pk, nid=world["subscription"].pk)
    kwargs = {"content_type": "application/json"} if api and method == "post" else {}
    response = getattr(client, method)(url, **kwargs)
    page_expected = allowed if caller in PAGE_SEES else 404
    expected = _api_expected(caller, allowed) if api else page_expected
    assert response.status_code == expected, (caller, name, response.content[:300])
    body = b"".join(response.streaming_content) if response.streaming else response.content
    if expected >= 400:
        assert_shows_none_of_the_owners(body, world)
        if api:
            assert response["Content-Type"] == "application/problem+json"
    if expected == 401:
        assert response["WWW-Authenticate"].startswith("Bearer")
    if expected >= 400:  # Nothing changed: still there, same status, no retry made.
        unchanged = Calculation.objects.get(pk=calculation.pk)
        assert unchanged.status == calculation.status and unchanged.cancel_requested_at is None
        assert not Calculation.objects.filter(retry_of=calculation).exists()
    delivery = Delivery.objects.filter(pk=world["delivery"].pk).first()
    if "resend" in name:
        assert delivery.resends == (1 if expected < 400 else 0)
        assert delivery.status == (
            Delivery.Status.PENDING if expected < 400 else Delivery.Status.FAILED
        )
    elif expected >= 400:
        assert (delivery.status, delivery.resends) == (Delivery.Status.FAILED, 0)


@pytest.mark.parametrize("caller", CALLERS)
def test_access_to_submit(world, owner, other, staff, caller):
    client = world["clients"][caller]
    before = set(Calculation.objects.values_list("pk", flat=True))
    response = client.post(
        "/api/calculations", {"equation": "fibonacci", "n": 5}, content_type="application/json"
    )
    created = Calculation.objects.exclude(pk__in=before)
    assert_shows_none_of_the_owners(response.content, world)
    if caller in REFUSED_TOKENS:
        assert response.status_code == 401, response.content[:300]
        assert response["Content-Type"] == "application/problem+json"
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert not created.exists()
        return
    assert response.status_code == 202, response.content[:300]
    (row,) = created
    assert response.json()["id"] == str(row.pk)
    expected_owner = {
        "owner": owner,
        "owner_token": owner,
        "staff": staff,
        "other_user": other,
        "other_token": other,
        "anonymous": None,
    }[caller]
    assert row.owner == expected_owner
    if caller == "anonymous":  # owned by the session the answer set
        assert row.anonymous_key
        assert client.get(f"/api/calculations/{row.pk}").status_code == 200
        assert world["clients"]["owner"].get(f"/api/calculations/{row.pk}").status_code == 404


LISTS = [
    ("page list", "/", False),
    ("page list polled", "/?after=", False),
    ("api list", "/api/calculations", True),
    ("api equations", "/api/equations", True),
]


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(("name", "path", "api"), LISTS, ids=[entry[0] for entry in LISTS])
def test_lists_show_only_the_callers_own(world, caller, name, path, api):
    response = world["clients"][caller].get(path)
    expected = 401 if api and caller in REFUSED_TOKENS else 200
    assert response.status_code == expected, (caller, name, response.content[:300])
    body = response.content
    visible = (caller in SEES) if api else (caller in PAGE_SEES)
    if "equations" in path:
        return
    for key in ("success", "failed", "pending"):
        assert (str(world[key].pk).encode() in body) is (visible and expected == 200), key


@pytest.mark.parametrize("caller", [*CALLERS, "staff_token"])
def test_dashboard_is_for_staff_sessions_only(world, staff, caller, broker_url):
    # Pages know the session only: a token, even a staff member's, is an anonymous visitor
    # there, and a bad or revoked one is not a 401 either.
    if caller == "staff_token":
        client = bearer(account_services.api_token_create(user=staff, name="t").secret)
    else:
        client = world["clients"][caller]
    clear_cache()  # the dashboard caches its figures in Redis
    running = make_calculation(owner=world["success"].owner, status=S.RUNNING, worker="w@h:1")
    response = client.get("/dashboard/")
    if caller == "staff":
        assert response.status_code == 200
        assert str(running.pk).encode() in response.content  # staff see everyone's work
        return
    assert response.status_code == 302, (caller, response.content[:300])
    assert response["Location"].startswith("/admin/login/")
    assert_shows_none_of_the_owners(response.content, world)
    assert str(running.pk).encode() not in response.content


@pytest.mark.parametrize(
    ("caller", "expected"),
    [("staff", 200), ("owner", 302), ("anonymous", 302), ("other_user", 302)],
)
@pytest.mark.parametrize("path", ["/admin/", "/admin/calculations/calculation/"])
def test_admin_is_staff_only(world, staff, caller, expected, path):
    from django.contrib.auth.models import Permission

    staff.user_permissions.add(Permission.objects.get(codename="view_calculation"))
    response = world["clients"][caller].get(path)
    assert response.status_code == expected
    if expected == 302:
        assert response["Location"].startswith("/admin/login/")


def test_staff_only_decorator_and_mixin_refuse_everyone_but_active_staff(rf, owner, staff):
    from django.contrib.auth.models import AnonymousUser
    from django.core.exceptions import PermissionDenied
    from django.http import HttpResponse
    from django.views import View

    from accounts.decorators import StaffRequiredMixin, staff_required

    @staff_required
    def page(request):
        return HttpResponse("dashboard")

    class Page(StaffRequiredMixin, View):
        def get(self, request):
            return HttpResponse("dashboard")

    for user, allowed in ((staff, True), (owner, False), (AnonymousUser(), False)):
        request = rf.get("/dashboard")
        request.user = user
        assert (page(request).status_code == 200) is allowed
        request = rf.get("/dashboard")
        request.user = user
        if allowed:
            assert Page.as_view()(request).status_code == 200
        elif user.is_authenticated:
            with pytest.raises(PermissionDenied):  # Django answers 403.
                Page.as_view()(request)
        else:
            assert Page.as_view()(request).status_code == 302  # to the login page
