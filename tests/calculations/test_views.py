"""What the list and detail pages show while a calculation runs."""

import html as html_lib
import re
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from calculations import selectors, services
from calculations.claims import Claimant
from calculations.models import Calculation
from tests.calculations.factories import (
    make_calculation,
    make_finished,
    make_success,
    random_digits,
)

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
    return make_calculation(**(defaults | fields))


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


# --- The list page: form, submissions, table ------------------------------------------------


@pytest.fixture
def enqueued(monkeypatch) -> list[list[str]]:
    """One list of calculation ids per call of services._enqueue (no broker in unit tests)."""
    calls: list[list[str]] = []
    monkeypatch.setattr(
        services, "_enqueue", lambda calculations: calls.append([str(c.pk) for c in calculations])
    )
    return calls


def row_html(page: str, calculation: Calculation) -> str:
    match = re.search(rf'<tr id="calculation-{calculation.id}".*?</tr>', page, re.S)
    assert match, f"no row for {calculation.id}"
    return match.group(0)


N_ERROR = re.compile(r'<p class="form-error" id="n-error" role="alert">(.*?)</p>')


def inline_errors(page: str) -> list[str]:
    return [html_lib.unescape(message) for message in N_ERROR.findall(page)]


def test_list_get_shows_the_form_and_the_calculations(client):
    calculations = [make_calculation(n=n) for n in (11, 12)]
    response = client.get("/")
    page = response.content.decode()
    assert response.status_code == 200
    assert '<form method="post" action="/"' in page
    assert 'name="csrfmiddlewaretoken"' in page
    assert 'name="n"' in page and 'name="equation"' in page
    for calculation in calculations:
        assert f'<tr id="calculation-{calculation.id}" data-status="PENDING"' in page


def test_list_get_without_calculations_says_so(client):
    page = client.get("/").content.decode()
    assert "No calculations yet." in page
    assert "<table" not in page


def test_list_post_valid_creates_rows_redirects_and_enqueues_after_commit(
    client, enqueued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/", {"equation": "fibonacci", "n": "39, 4, 6, 32"})
    assert response.status_code == 302
    assert response["Location"] == "/"
    rows = list(Calculation.objects.order_by("created_at"))
    assert [row.n for row in rows] == [39, 4, 6, 32]
    assert all(row.status == S.PENDING for row in rows)
    assert enqueued == [[str(row.pk) for row in rows]]


def test_list_post_valid_then_shows_a_confirmation(client, enqueued):
    response = client.post("/", {"equation": "fibonacci", "n": "1 2 3"}, follow=True)
    assert response.status_code == 200
    assert "Queued 3 calculation(s)." in response.content.decode()


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("-1", "“-1”: write it without a sign"),
        ("abc", "“abc”: it is not a whole number"),
        ("1.5", "“1.5”: it is not a whole number"),
        ("", "This field is required."),
        (", ".join(["7"] * 101), "At most 100 numbers at once; you entered 101."),
    ],
    ids=["minus-one", "abc", "one-point-five", "empty", "101-numbers"],
)
def test_list_post_invalid_is_400_with_an_inline_message_and_creates_nothing(
    client, enqueued, django_capture_on_commit_callbacks, settings, text, fragment
):
    settings.CALCQUEUE_MAX_BATCH = 100
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post("/", {"equation": "fibonacci", "n": text})
    page = response.content.decode()
    assert response.status_code == 400
    (message,) = inline_errors(page)
    assert fragment in message
    assert 'aria-invalid="true"' in page
    assert Calculation.objects.count() == 0
    assert callbacks == [] and enqueued == []


def test_list_post_invalid_keeps_what_was_typed_in_the_field(client, enqueued):
    page = client.post("/", {"equation": "fibonacci", "n": "4, abc"}).content.decode()
    assert 'value="4, abc"' in page


def test_list_post_escapes_markup_in_the_error_message(client, enqueued):
    page = client.post("/", {"equation": "fibonacci", "n": "<b>x</b>"}).content.decode()
    assert "<b>x</b>" not in page
    assert "&lt;b&gt;x&lt;/b&gt;" in page


def test_list_row_of_n_0_shows_0_and_its_output_0(client):
    calculation = make_calculation(n=0)
    services.calculation_run(calculation_id=calculation.pk, claimant=Claimant("unit@test", 1))
    row = row_html(client.get("/").content.decode(), calculation)
    assert 'data-status="SUCCESS"' in row
    assert '<td role="cell" class="num" data-label="n =">0</td>' in row
    assert '<span class="digits">0</span>' in row


def test_list_row_of_a_long_output_shows_head_and_tail_only(client):
    digits = random_digits(500)
    calculation = make_success(digits)
    row = row_html(client.get("/").content.decode(), calculation)
    assert f"{digits[:24]}…{digits[-24:]}" in row
    assert "(500 digits)" in row
    assert digits[:25] not in row


def test_list_row_of_an_error_shows_the_message_cut_short(client):
    message = "x" * 200
    calculation = make_finished(S.ERROR, error=message)
    row = row_html(client.get("/").content.decode(), calculation)
    assert "x" * 79 + "…" in row
    assert "x" * 80 not in row


def test_list_htmx_request_returns_only_the_table_fragment(client):
    calculation = make_calculation(n=5)
    response = client.get("/", headers={"HX-Request": "true"})
    page = response.content.decode()
    assert response.status_code == 200
    assert page.lstrip().startswith('<div id="calculation-table"')
    assert "<html" not in page
    assert 'class="calculation-form"' not in page and 'name="n"' not in page
    assert f'id="calculation-{calculation.id}"' in page


@pytest.mark.parametrize("active", [S.PENDING, S.RUNNING])
def test_list_fragment_polls_while_any_row_is_active(client, active):
    make_success("1")
    make_finished(S.ERROR, error="boom")
    make_calculation(status=active, started_at=timezone.now())
    page = client.get("/", headers={"HX-Request": "true"}).content.decode()
    assert 'hx-trigger="every 500ms"' in page
    assert 'data-live="true"' in page


def test_list_fragment_stops_polling_when_every_row_is_final(client):
    make_success("1")
    make_finished(S.ERROR, error="boom")
    make_finished(S.CANCELLED)
    for page in (
        client.get("/", headers={"HX-Request": "true"}).content.decode(),
        client.get("/").content.decode(),
    ):
        assert "hx-trigger" not in page
        assert 'data-live="false"' in page


def test_list_pages_through_older_calculations_with_a_cursor(client, settings):
    settings.CALCQUEUE_PAGE_SIZE = 2
    start = timezone.now() - timedelta(hours=1)
    rows = [make_calculation(n=i, created_at=start + timedelta(seconds=i)) for i in range(3)]
    first = client.get("/").content.decode()
    match = re.search(r'<a href="\?after=([^"]+)">Older', first)
    assert match
    second = client.get("/", {"after": match.group(1)}).content.decode()
    assert f'id="calculation-{rows[0].id}"' in second
    assert f'id="calculation-{rows[2].id}"' not in second
    assert "Older" not in second


def test_list_with_an_invalid_cursor_redirects_to_the_first_page(client):
    response = client.get("/", {"after": "not-a-cursor"})
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_list_refuses_other_methods(client):
    assert client.put("/").status_code == 405


# --- The detail page ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", list(S))
def test_detail_shows_the_status_as_data_status(client, status):
    if status == S.SUCCESS:
        calculation = make_success("63245986", n=39)
    else:
        calculation = make_calculation(status=status, error="boom" if status == S.ERROR else "")
    response = client.get(f"/calculations/{calculation.id}/")
    assert response.status_code == 200
    assert f'id="calculation-status" data-status="{status}"' in response.content.decode()


def test_detail_of_an_unknown_id_is_404(client):
    assert client.get(f"/calculations/{uuid.uuid4()}/").status_code == 404


def test_detail_of_a_path_that_is_not_a_uuid_is_404(client):
    assert client.get("/calculations/12345/").status_code == 404


def test_detail_polls_while_active_and_not_when_final(client):
    pending = make_calculation()
    done = make_success("8")
    assert 'hx-trigger="every 500ms"' in client.get(pending.get_absolute_url()).content.decode()
    assert "hx-trigger" not in client.get(done.get_absolute_url()).content.decode()


def test_detail_htmx_request_returns_only_the_detail_fragment(client):
    calculation = make_success("8")
    page = client.get(calculation.get_absolute_url(), headers={"HX-Request": "true"})
    text = page.content.decode()
    assert text.lstrip().startswith('<div id="calculation-detail"')
    assert "<html" not in text


def test_detail_shows_an_error_message_in_full(client):
    message = "RuntimeError: " + "long explanation " * 20
    calculation = make_finished(S.ERROR, error=message)
    page = client.get(calculation.get_absolute_url()).content.decode()
    assert f'<pre class="error-message">{message}</pre>' in page


def test_detail_of_a_5000_digit_output_shows_head_and_tail_not_the_whole(client):
    digits = random_digits(5000)
    calculation = make_success(digits, n=123)
    page = client.get(calculation.get_absolute_url()).content.decode()
    assert digits[:200] in page
    assert digits[-200:] in page
    assert digits not in page
    assert digits[:201] not in page and digits[-201:] not in page
    assert digits[1000:1100] not in page
    assert "5,000 digits" in page


def test_detail_of_a_short_output_shows_it_whole(client):
    digits = random_digits(1500)
    calculation = make_success(digits)
    page = client.get(calculation.get_absolute_url()).content.decode()
    assert f'<pre class="output-full" id="output">{digits}</pre>' in page


def test_detail_shows_an_output_of_exactly_2000_digits_whole_and_2001_cut(client):
    whole, cut = random_digits(2000, seed=2), random_digits(2001, seed=3)
    whole_page = client.get(make_success(whole).get_absolute_url()).content.decode()
    cut_page = client.get(make_success(cut).get_absolute_url()).content.decode()
    assert f'id="output">{whole}</pre>' in whole_page
    assert cut not in cut_page
    assert cut[:200] in cut_page and cut[-200:] in cut_page


def test_detail_of_f0_shows_the_output_0(client):
    calculation = make_success("0", n=0)
    page = client.get(calculation.get_absolute_url()).content.decode()
    assert '<pre class="output-full" id="output">0</pre>' in page
    assert "(1 digit)" in page


# --- output.txt ------------------------------------------------------------------------------


def streamed(response) -> bytes:
    return b"".join(response.streaming_content)


def test_output_txt_streams_the_exact_digits_with_headers(client):
    digits = random_digits(5000)
    calculation = make_success(digits, n=777)
    response = client.get(f"/calculations/{calculation.id}/output.txt")
    assert response.status_code == 200
    assert response["Content-Type"].split(";")[0] == "text/plain"
    assert response["Content-Length"] == "5000"
    assert response["Content-Disposition"] == 'inline; filename="fibonacci-777.txt"'
    assert response.streaming
    assert streamed(response) == digits.encode("ascii")


def test_output_txt_streams_several_chunks_in_order(client, monkeypatch):
    digits = random_digits(5000, seed=9)
    calculation = make_success(digits)
    chunk_sizes: list[int] = []
    original = selectors.calculation_output_chunks

    def small_chunks(**kwargs):
        for chunk in original(**kwargs | {"chunk_chars": 1000}):
            chunk_sizes.append(len(chunk))
            yield chunk

    monkeypatch.setattr(selectors, "calculation_output_chunks", small_chunks)
    response = client.get(f"/calculations/{calculation.id}/output.txt")
    assert streamed(response) == digits.encode()
    assert chunk_sizes == [1000] * 5


@pytest.mark.parametrize("status", [S.PENDING, S.RUNNING, S.ERROR, S.CANCELLED])
def test_output_txt_is_404_unless_success(client, status):
    calculation = make_calculation(status=status)
    assert client.get(f"/calculations/{calculation.id}/output.txt").status_code == 404


def test_output_txt_of_an_unknown_id_is_404(client):
    assert client.get(f"/calculations/{uuid.uuid4()}/output.txt").status_code == 404
