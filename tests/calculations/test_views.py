"""What the list and detail pages show while a calculation runs."""

from datetime import timedelta

import pytest
from django.utils import timezone

from calculations.models import Calculation

pytestmark = pytest.mark.django_db
S = Calculation.Status


def make_running(**fields) -> Calculation:
    defaults = {
        "equation": "nth_prime",
        "n": 100_000_000,
        "status": S.RUNNING,
        "attempts": 1,
        "started_at": timezone.now() - timedelta(seconds=10),
        "worker": "node@host:1",
    }
    return Calculation.objects.create(**(defaults | fields))


def test_list_shows_a_progress_bar_with_time_left_for_a_running_calculation(client):
    calculation = make_running(progress=0.25)
    html = client.get("/").content.decode()
    assert (
        '<progress max="1" value="0.250" '
        f'aria-label="Progress of nth_prime({calculation.n})">25 %</progress>'
    ) in html
    assert "25 % · about 30 s left" in html


def test_list_polled_by_htmx_shows_the_progress_too(client):
    make_running(progress=0.5)
    html = client.get("/", headers={"HX-Request": "true"}).content.decode()
    assert 'value="0.500"' in html and "50 %" in html


def test_list_shows_an_indeterminate_bar_before_the_first_progress_report(client):
    make_running(progress=None)
    html = client.get("/").content.decode()
    assert '<progress max="1" aria-label="Progress of nth_prime(100000000)">' in html
    assert "working…" in html


def test_list_shows_no_progress_bar_for_other_statuses(client):
    for status in (S.PENDING, S.SUCCESS, S.ERROR, S.CANCELLED):
        make_running(status=status, progress=0.5)
    assert "<progress" not in client.get("/").content.decode()


def test_detail_shows_progress_and_time_left_while_running(client):
    calculation = make_running(progress=0.8, started_at=timezone.now() - timedelta(seconds=40))
    html = client.get(calculation.get_absolute_url()).content.decode()
    assert "<dt>Progress</dt>" in html
    assert 'value="0.800"' in html
    assert "80 % · about 10 s left" in html


def test_list_form_shows_the_equation_help_and_bounds(client):
    html = client.get("/").content.decode()
    assert '<p class="help" id="equation-help">The n-th Fibonacci number' in html
    assert 'aria-describedby="n-help equation-help"' in html
    assert "The n-th prime p(n) (n ≤ 300,000,000)" in html


def test_list_form_shows_an_out_of_bounds_error_inline_and_creates_nothing(client):
    response = client.post("/", {"equation": "nth_prime", "n": "0"})
    html = response.content.decode()
    assert response.status_code == 400
    assert 'id="n-error" role="alert">The n-th prime p(n) takes n from 1' in html
    assert 'aria-invalid="true"' in html
    assert not Calculation.objects.exists()
