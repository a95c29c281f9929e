"""The Django admin for calculations: read-only, searchable, with cancel and retry actions."""

import pytest

from calculations import services
from calculations.models import Calculation
from tests.calculations.factories import (
    make_calculation,
    make_finished,
    make_success,
    random_digits,
)

pytestmark = pytest.mark.django_db
S = Calculation.Status
CHANGELIST = "/admin/calculations/calculation/"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    """admin_client creates a superuser with a password; a slow hasher would dominate."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def listed(response) -> set:
    assert response.status_code == 200
    return {calculation.pk for calculation in response.context["cl"].result_list}


@pytest.fixture
def rows() -> dict[str, Calculation]:
    return {
        "pending": make_calculation(n=39),
        "success": make_success("63245986", n=39),
        "error": make_finished(S.ERROR, n=390, error="boom"),
        "factorial": make_calculation(equation="factorial", n=7),
    }


@pytest.fixture
def enqueued(monkeypatch) -> list:
    published: list = []
    monkeypatch.setattr(services, "_enqueue", lambda calculations: published.extend(calculations))
    return published


def test_admin_changelist_lists_every_calculation(admin_client, rows):
    response = admin_client.get(CHANGELIST)
    assert listed(response) == {row.pk for row in rows.values()}
    page = response.content.decode()
    for row in rows.values():
        assert f"{CHANGELIST}{row.pk}/change/" in page


def test_admin_changelist_needs_a_staff_login(client, rows):
    response = client.get(CHANGELIST)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


@pytest.mark.parametrize(("status", "expected"), [("SUCCESS", "success"), ("ERROR", "error")])
def test_admin_changelist_filters_by_status(admin_client, rows, status, expected):
    response = admin_client.get(CHANGELIST, {"status__exact": status})
    assert listed(response) == {rows[expected].pk}


def test_admin_changelist_filters_pending(admin_client, rows):
    response = admin_client.get(CHANGELIST, {"status__exact": "PENDING"})
    assert listed(response) == {rows["pending"].pk, rows["factorial"].pk}


def test_admin_changelist_filters_by_equation(admin_client, rows):
    response = admin_client.get(CHANGELIST, {"equation": "factorial"})
    assert listed(response) == {rows["factorial"].pk}


def test_admin_search_by_n_matches_that_n_exactly(admin_client, rows):
    response = admin_client.get(CHANGELIST, {"q": "39"})
    assert listed(response) == {rows["pending"].pk, rows["success"].pk}  # Not n=390.


def test_admin_search_by_n_with_spaces_around_it(admin_client, rows):
    assert listed(admin_client.get(CHANGELIST, {"q": " 390 "})) == {rows["error"].pk}


def test_admin_search_by_uuid_finds_that_calculation(admin_client, rows):
    target = rows["error"]
    assert listed(admin_client.get(CHANGELIST, {"q": str(target.pk)})) == {target.pk}


def test_admin_search_by_equation_name(admin_client, rows):
    assert listed(admin_client.get(CHANGELIST, {"q": "factor"})) == {rows["factorial"].pk}


def test_admin_search_with_no_match_lists_nothing(admin_client, rows):
    assert listed(admin_client.get(CHANGELIST, {"q": "12345"})) == set()


@pytest.mark.parametrize("term", ["9" * 25, str(2**64), "５"])
def test_admin_search_by_a_number_beyond_the_column_or_non_ascii_lists_nothing(
    admin_client, rows, term
):
    assert listed(admin_client.get(CHANGELIST, {"q": term})) == set()


def test_admin_change_page_of_a_success_shows_the_preview_and_a_download_link(admin_client):
    digits = random_digits(100)
    calculation = make_success(digits)
    response = admin_client.get(f"{CHANGELIST}{calculation.pk}/change/")
    assert response.status_code == 200
    page = response.content.decode()
    assert (
        f"<code>{digits[:24]}…{digits[-24:]}</code> (100 digits) "
        f'<a href="/calculations/{calculation.pk}/output.txt">download</a>'
    ) in page
    assert digits not in page


def test_admin_change_page_of_a_short_success_shows_it_whole(admin_client):
    calculation = make_success("63245986", n=39)
    page = admin_client.get(f"{CHANGELIST}{calculation.pk}/change/").content.decode()
    assert "<code>63245986</code> (8 digits)" in page


def test_admin_change_page_without_output_shows_a_dash_and_no_link(admin_client):
    calculation = make_calculation()
    page = admin_client.get(f"{CHANGELIST}{calculation.pk}/change/").content.decode()
    assert "output.txt" not in page
    assert "–" in page


def test_admin_change_page_is_read_only(admin_client):
    calculation = make_calculation(n=5)
    response = admin_client.post(f"{CHANGELIST}{calculation.pk}/change/", {"n": "6"})
    assert response.status_code == 403
    calculation.refresh_from_db()
    assert calculation.n == 5


def test_admin_add_is_not_permitted(admin_client):
    assert admin_client.get(f"{CHANGELIST}add/").status_code == 403
    response = admin_client.post(f"{CHANGELIST}add/", {"equation": "fibonacci", "n": "5"})
    assert response.status_code == 403
    assert Calculation.objects.count() == 0
    assert f"{CHANGELIST}add/" not in admin_client.get(CHANGELIST).content.decode()


def test_admin_cancel_action_cancels_only_unfinished_calculations(admin_client, rows):
    response = admin_client.post(
        CHANGELIST,
        {
            "action": "cancel_calculations",
            "_selected_action": [rows["pending"].pk, rows["success"].pk],
        },
        follow=True,
    )
    assert "Cancel requested for 1 calculation(s)." in response.content.decode()
    rows["pending"].refresh_from_db()
    rows["success"].refresh_from_db()
    assert rows["pending"].status == S.CANCELLED
    assert rows["success"].status == S.SUCCESS


def test_admin_retry_action_creates_new_calculations_for_failed_ones(
    admin_client, rows, enqueued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            CHANGELIST,
            {
                "action": "retry_calculations",
                "_selected_action": [rows["error"].pk, rows["pending"].pk],
            },
            follow=True,
        )
    assert "Retried 1 calculation(s)." in response.content.decode()
    retry = Calculation.objects.get(retry_of=rows["error"])
    assert (retry.status, retry.n, retry.equation) == (S.PENDING, 390, "fibonacci")
    assert [calculation.pk for calculation in enqueued] == [retry.pk]
    assert Calculation.objects.count() == len(rows) + 1
