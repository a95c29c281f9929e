"""The delete_calculations management command."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from calculations.management.commands.delete_calculations import Command
from calculations.models import Calculation, CalculationOutput
from tests.calculations.factories import make_calculation, make_finished, make_success

pytestmark = pytest.mark.django_db
S = Calculation.Status


def delete_calculations(*args: str) -> str:
    out = StringIO()
    call_command("delete_calculations", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def rows() -> dict[str, Calculation]:
    old = timedelta(days=2)
    return {
        "old_success": make_success("12345", finished_ago=old),
        "old_error": make_finished(S.ERROR, finished_ago=old, error="boom"),
        "recent_success": make_success("678", finished_ago=timedelta(hours=12)),
        "old_pending": make_calculation(created_at=timezone.now() - old),
        "old_running": make_calculation(
            status=S.RUNNING,
            created_at=timezone.now() - old,
            started_at=timezone.now() - old,
            attempts=1,
        ),
    }


def test_delete_calculations_all_deletes_every_row_and_output(rows):
    assert delete_calculations("--all") == "Deleted 5 calculation(s).\n"
    assert Calculation.objects.count() == 0
    assert CalculationOutput.objects.count() == 0


def test_delete_calculations_all_on_an_empty_table(db):
    assert delete_calculations("--all") == "Deleted 0 calculation(s).\n"


def test_delete_calculations_finished_older_than_1_day_keeps_the_rest(rows):
    assert delete_calculations("--finished-older-than", "1") == "Deleted 2 calculation(s).\n"
    remaining = set(Calculation.objects.values_list("pk", flat=True))
    expected = {rows[key].pk for key in ("recent_success", "old_pending", "old_running")}
    assert remaining == expected
    outputs = set(CalculationOutput.objects.values_list("calculation_id", flat=True))
    assert outputs == {rows["recent_success"].pk}


def test_delete_calculations_accepts_a_fraction_of_a_day(rows):
    # 0.25 days = 6 hours: the success finished 12 hours ago goes too.
    assert delete_calculations("--finished-older-than=0.25") == "Deleted 3 calculation(s).\n"
    assert not Calculation.objects.filter(pk=rows["recent_success"].pk).exists()
    assert Calculation.objects.filter(status__in=[S.PENDING, S.RUNNING]).count() == 2


def test_delete_calculations_zero_days_deletes_every_finished_row(rows):
    delete_calculations("--finished-older-than", "0")
    assert set(Calculation.objects.values_list("status", flat=True)) == {S.PENDING, S.RUNNING}


def test_delete_calculations_without_arguments_is_refused(rows):
    with pytest.raises(CommandError, match="one of the arguments --all --finished-older-than"):
        call_command("delete_calculations")
    assert Calculation.objects.count() == 5


def test_delete_calculations_with_both_arguments_is_refused(rows):
    with pytest.raises(CommandError, match="not allowed with argument"):
        call_command("delete_calculations", "--all", "--finished-older-than", "1")
    assert Calculation.objects.count() == 5


def test_delete_calculations_with_a_negative_age_is_refused(rows):
    with pytest.raises(CommandError, match=">= 0"):
        call_command("delete_calculations", "--finished-older-than", "-1")
    assert Calculation.objects.count() == 5


def test_delete_calculations_with_a_non_numeric_age_is_refused(rows):
    with pytest.raises(CommandError, match="invalid float value"):
        call_command("delete_calculations", "--finished-older-than", "soon")
    assert Calculation.objects.count() == 5


def test_delete_calculations_from_the_command_line_exits_with_status_2(rows, capsys):
    with pytest.raises(SystemExit) as caught:
        Command().run_from_argv(["manage.py", "delete_calculations"])
    assert caught.value.code == 2
    assert "one of the arguments --all --finished-older-than" in capsys.readouterr().err
    assert Calculation.objects.count() == 5
