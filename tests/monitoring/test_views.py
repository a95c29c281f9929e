"""The dashboard, health and metrics endpoints through Django's test client, with a real
broker (the session's Redis) behind the queue depths."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from calculations.models import Calculation
from tests.calculations.factories import make_calculation, make_finished
from tests.conftest import clear_cache

pytestmark = pytest.mark.django_db
S = Calculation.Status


@pytest.fixture
def client(client):
    """Signed in as a staff user: the dashboard is for staff only."""
    client.force_login(User.objects.create_user("operator", is_staff=True))
    return client


@pytest.fixture(autouse=True)
def empty_cache(broker_url):
    clear_cache()
    yield
    clear_cache()


def known_rows() -> None:
    now = timezone.now()
    for seconds in (1, 2, 3):
        make_finished(
            S.SUCCESS,
            equation="factorial",
            started_at=now - timedelta(seconds=seconds),
            finished_at=now,
        )
    make_finished(S.ERROR, error="boom")
    make_finished(S.CANCELLED)
    make_calculation(created_at=now - timedelta(seconds=12), n=4)
    make_calculation(
        equation="nth_prime",
        n=100_000_000,
        status=S.RUNNING,
        started_at=now - timedelta(seconds=3),
        progress=0.4,
        worker="w@h:1",
    )


def text_of(html: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)</dd>', html, re.S)
    assert match, element_id
    return re.sub(r"<[^>]+>", "", match.group(1)).strip()


def test_dashboard_shows_the_known_counts(client):
    known_rows()
    html = client.get("/dashboard/").content.decode()
    assert text_of(html, "finished-success") == "3"
    assert text_of(html, "finished-error") == "1"
    assert text_of(html, "finished-cancelled") == "1"
    assert text_of(html, "pending-count") == "1"
    assert text_of(html, "running-count") == "1"
    assert text_of(html, "oldest-pending").startswith("12.")
    assert "fibonacci(4)" in text_of(html, "oldest-pending")
    assert re.search(r'data-queue="calculations">0<', html)
    assert re.search(r'data-queue="calculations.short">0<', html)
    durations = re.search(r'<tr data-equation="factorial">(.*?)</tr>', html).group(1)
    assert re.findall(r">([\d.]+) s<", durations)[:2] == ["2.000", "3.000"]  # p50, p95
    # The running calculation with its progress bar, from the list page's partial.
    assert 'value="0.400"' in html and "nth_prime(100000000)" in html


def test_dashboard_chart_has_one_bar_a_minute_with_the_counts_in_its_title(client):
    known_rows()
    html = client.get("/dashboard/").content.decode()
    assert html.count('<g class="bar"') == 60
    assert re.search(r"<title>[\d:]+ UTC: 3 succeeded, 1 failed, 1 cancelled</title>", html)


def test_dashboard_polled_by_htmx_answers_the_panels_alone(client):
    response = client.get("/dashboard/", headers={"HX-Request": "true"})
    html = response.content.decode()
    assert html.startswith('<div id="dashboard-panels"')
    assert 'hx-trigger="every 2s"' in html
    assert "<html" not in html
    assert response["Cache-Control"].startswith("max-age=0")


def test_dashboard_has_no_inline_script_or_style(client):
    """A strict Content-Security-Policy must not break it."""
    known_rows()
    for url in ("/dashboard/", "/dashboard/workers/"):
        html = client.get(url).content.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), url
        assert not re.search(r"\sstyle=", html), url
        assert "<style" not in html and "javascript:" not in html, url


def test_dashboard_says_when_the_broker_cannot_be_asked(client, settings, monkeypatch):
    from monitoring import views

    monkeypatch.setattr(views, "queue_depths", lambda: None)
    html = client.get("/dashboard/").content.decode()
    assert "unreachable: queue depths unknown" in html


@pytest.mark.parametrize("url", ["/dashboard/", "/dashboard/workers/"])
@pytest.mark.parametrize("username", [None, "someone"])
def test_dashboard_sends_anyone_but_staff_to_the_admin_login(url, username):
    visitor = Client()
    if username:
        visitor.force_login(User.objects.create_user(username))
    response = visitor.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"/admin/login/?next={url}"


def test_dashboard_lets_staff_in(client):
    assert client.get("/dashboard/").status_code == 200


def test_healthz_answers_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_healthz_refuses_a_post(client):
    assert client.post("/healthz").status_code == 405


def samples(body: str) -> dict[tuple[str, tuple], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def test_metrics_reports_unfinished_calculations_and_queues(client):
    known_rows()
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    values = samples(response.content.decode())
    gauge = "calcqueue_calculations"
    assert values[(gauge, (("equation", "fibonacci"), ("status", "PENDING")))] == 1
    assert values[(gauge, (("equation", "nth_prime"), ("status", "RUNNING")))] == 1
    assert values[(gauge, (("equation", "pi_digits"), ("status", "PENDING")))] == 0
    assert values[("calcqueue_oldest_pending_age_seconds", ())] == pytest.approx(12, abs=2)
    assert values[("calcqueue_queue_messages", (("queue", "calculations"),))] == 0
    assert values[("calcqueue_broker_up", ())] == 1


def test_metrics_counts_http_requests_by_route_not_by_path(client):
    before = samples(client.get("/metrics").content.decode())
    client.get(f"/calculations/{make_calculation().pk}/")
    client.get("/no-such-page")
    after = samples(client.get("/metrics").content.decode())

    def grew(labels):
        key = ("calcqueue_http_requests_total", tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    detail = {"method": "GET", "route": "/calculations/<uuid:calculation_id>/", "status": "200"}
    assert grew(detail) == 1
    assert grew({"method": "GET", "route": "<unmatched>", "status": "404"}) == 1


def test_metrics_with_a_token_refuses_requests_without_it(client, settings):
    settings.CALCQUEUE_METRICS_TOKEN = "s3cret-token"
    refused = client.get("/metrics")
    assert refused.status_code == 401
    assert refused["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    allowed = client.get("/metrics", headers={"Authorization": "Bearer s3cret-token"})
    assert allowed.status_code == 200


def test_dashboard_shows_backpressure_when_it_refuses_submissions(client, settings):
    settings.CALCQUEUE_BACKPRESSURE_MAX_UNFINISHED = 3
    for n in range(2):
        make_calculation(n=n)
    calm = client.get("/dashboard/").content.decode()
    assert 'data-active="false"' in calm and "2 unfinished of 3 before backpressure" in calm

    make_calculation(n=2)
    refusing = client.get("/dashboard/").content.decode()
    assert 'id="backpressure" data-active="true"' in refusing
    assert (
        "new submissions are refused (503" in refusing and "3 unfinished of 3 allowed" in refusing
    )


def test_dashboard_backpressure_by_waiting_time_alone_shows_no_unfinished_count(client, settings):
    settings.CALCQUEUE_BACKPRESSURE_MAX_UNFINISHED = 0
    settings.CALCQUEUE_BACKPRESSURE_MAX_WAIT_SECONDS = 60
    make_calculation(n=1)
    calm = client.get("/dashboard/").content.decode()
    assert "Submissions are accepted.</p>" in calm

    make_calculation(n=2, created_at=timezone.now() - timedelta(seconds=90))
    refusing = client.get("/dashboard/").content.decode()
    assert 'id="backpressure" data-active="true"' in refusing
    assert re.search(r"— the oldest waiting 9\d s of 60 s allowed\.", refusing)
    assert "unfinished" not in refusing.split('id="backpressure"')[1].split("</p>")[0]
