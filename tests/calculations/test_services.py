"""calculations.services: submitting, running and deleting, against the test database.

Publishing is replaced by a recorder of `_enqueue`'s arguments: these are unit tests; the
real broker is exercised by the integration tests.
"""

import itertools
from datetime import timedelta

import gmpy2
import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from calculations import services
from calculations.claims import Claimant
from calculations.models import Calculation, CalculationOutput
from tests.calculations.factories import make_calculation, make_finished, make_success, owner_caller

pytestmark = pytest.mark.django_db
S = Calculation.Status
CLAIMANT = Claimant(node="unit@test", pid=4242)
MISSING_ID = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def enqueued(monkeypatch) -> list[list[str]]:
    """One list of calculation ids per call of services._enqueue."""
    calls: list[list[str]] = []
    monkeypatch.setattr(
        services, "_enqueue", lambda calculations: calls.append([str(c.pk) for c in calculations])
    )
    return calls


def run(calculation: Calculation) -> Calculation:
    services.calculation_run(calculation_id=calculation.pk, claimant=CLAIMANT)
    calculation.refresh_from_db()
    return calculation


# --- Submitting ------------------------------------------------------------------------------


def test_calculations_submit_creates_pending_rows_in_input_order(enqueued):
    created = services.calculations_submit(
        caller=owner_caller(), equation="fibonacci", inputs=[39, 4, 6, 32]
    )
    rows = list(Calculation.objects.order_by("created_at"))
    assert [row.n for row in rows] == [39, 4, 6, 32]
    assert [row.pk for row in rows] == [calculation.pk for calculation in created]
    assert all(row.status == S.PENDING for row in rows)
    assert all(row.equation == "fibonacci" for row in rows)
    assert all(row.attempts == 0 and row.started_at is None for row in rows)
    assert all(not CalculationOutput.objects.filter(calculation=row).exists() for row in rows)


def test_calculations_submit_created_at_strictly_increases_in_typed_order(enqueued):
    services.calculations_submit(caller=owner_caller(), equation="fibonacci", inputs=[5, 5, 1, 9])
    times = [row.created_at for row in Calculation.objects.order_by("created_at")]
    assert all(earlier < later for earlier, later in itertools.pairwise(times))
    # The newest-first list shows the batch reversed, so the first typed is lowest.
    assert [row.n for row in Calculation.objects.all()] == [9, 1, 5, 5]


def test_calculations_submit_enqueues_only_after_commit(
    enqueued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        created = services.calculations_submit(
            caller=owner_caller(), equation="fibonacci", inputs=[39, 4, 6, 32]
        )
    assert enqueued == []  # Not committed yet (the test's transaction): nothing published.
    assert Calculation.objects.count() == 4
    assert len(callbacks) == 1
    callbacks[0]()
    assert enqueued == [[str(calculation.pk) for calculation in created]]


def test_calculations_submit_with_one_bad_input_creates_and_enqueues_nothing(
    enqueued, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(ValidationError, match="out of range: 10000001"),
    ):
        services.calculations_submit(
            caller=owner_caller(), equation="fibonacci", inputs=[1, 2, 10_000_001, 3]
        )
    assert Calculation.objects.count() == 0
    assert callbacks == []
    assert enqueued == []


def test_calculations_submit_of_an_unknown_equation_creates_nothing(enqueued):
    with pytest.raises(ValidationError, match="unknown equation 'nope'"):
        services.calculations_submit(caller=owner_caller(), equation="nope", inputs=[1])
    assert Calculation.objects.count() == 0


def test_calculations_submit_of_an_empty_list_creates_nothing(enqueued):
    with pytest.raises(ValidationError, match="at least one number"):
        services.calculations_submit(caller=owner_caller(), equation="fibonacci", inputs=[])
    assert Calculation.objects.count() == 0


# --- Running ---------------------------------------------------------------------------------


def test_calculation_run_stores_success_with_exact_digits_and_previews():
    expected = gmpy2.fib(1000).digits()  # GMP's own mpz_fib_ui, not the project's code.
    before = timezone.now()
    calculation = run(make_calculation(n=1000))
    after = timezone.now()

    assert calculation.status == S.SUCCESS
    assert CalculationOutput.objects.get(calculation=calculation).digits == expected
    assert calculation.output_digits == len(expected) == 209
    assert calculation.output_head == expected[:24]
    assert calculation.output_tail == expected[-24:]
    assert calculation.attempts == 1
    assert calculation.worker == "unit@test:4242"
    assert before <= calculation.started_at <= calculation.finished_at <= after
    assert calculation.error == ""
    assert calculation.lease_expires_at is None
    assert calculation.progress == 1.0


def test_calculation_run_of_a_short_output_keeps_it_whole_in_the_head():
    calculation = run(make_calculation(n=39))
    assert calculation.status == S.SUCCESS
    assert (calculation.output_head, calculation.output_tail) == ("63245986", "")
    assert calculation.output_digits == 8


def test_calculation_run_of_n_0_stores_the_digit_zero():
    calculation = run(make_calculation(n=0))
    assert calculation.status == S.SUCCESS
    assert CalculationOutput.objects.get(calculation=calculation).digits == "0"
    assert (calculation.output_digits, calculation.output_head) == (1, "0")


def test_calculation_run_twice_for_the_same_id_does_nothing_the_second_time():
    calculation = run(make_calculation(n=1000))
    first = (calculation.finished_at, calculation.started_at, calculation.worker)

    services.calculation_run(
        calculation_id=calculation.pk, claimant=Claimant(node="other@test", pid=1)
    )
    calculation.refresh_from_db()
    assert calculation.status == S.SUCCESS
    assert calculation.attempts == 1
    assert (calculation.finished_at, calculation.started_at, calculation.worker) == first
    assert CalculationOutput.objects.filter(calculation=calculation).count() == 1


def test_calculation_run_of_a_missing_id_does_nothing():
    services.calculation_run(calculation_id=MISSING_ID, claimant=CLAIMANT)
    assert Calculation.objects.count() == 0
    assert CalculationOutput.objects.count() == 0


def test_calculation_run_of_a_deleted_calculation_does_nothing():
    calculation = make_calculation(n=5)
    calculation_id = calculation.pk
    calculation.delete()
    services.calculation_run(calculation_id=calculation_id, claimant=CLAIMANT)
    assert not Calculation.objects.filter(pk=calculation_id).exists()


@pytest.mark.parametrize("status", [S.ERROR, S.CANCELLED])
def test_calculation_run_of_a_finished_calculation_leaves_it_alone(status):
    calculation = run(make_finished(status, error="kept as it was"))
    assert calculation.status == status
    assert calculation.error == "kept as it was"
    assert calculation.attempts == 1
    assert not CalculationOutput.objects.filter(calculation=calculation).exists()


def test_calculation_run_stores_the_full_error_message_of_a_failing_equation(register_equation):
    message = "the maths went wrong: " + "every detail matters " * 8 + "(end of message)"
    assert len(message) > 110

    def fail(n, progress):
        raise RuntimeError(message)

    register_equation("test_failing", fail)
    calculation = run(make_calculation(equation="test_failing", n=3))

    assert calculation.status == S.ERROR
    assert calculation.error == f"RuntimeError: {message}"
    assert calculation.attempts == 1
    assert calculation.finished_at is not None
    assert calculation.lease_expires_at is None
    assert calculation.output_digits is None
    assert not CalculationOutput.objects.filter(calculation=calculation).exists()


def test_calculation_run_summarises_an_output_longer_than_60_digits(register_equation):
    register_equation("test_power_of_ten", lambda n, progress: gmpy2.mpz(10) ** n)
    calculation = run(make_calculation(equation="test_power_of_ten", n=100))
    assert calculation.status == S.SUCCESS
    assert calculation.output_digits == 101
    assert calculation.output_head == "1" + "0" * 23
    assert calculation.output_tail == "0" * 24
    assert CalculationOutput.objects.get(calculation=calculation).digits == "1" + "0" * 100


def test_calculation_run_of_an_equation_no_longer_registered_stores_an_error():
    calculation = run(make_calculation(equation="retired_equation", n=3))
    assert calculation.status == S.ERROR
    assert "unknown equation 'retired_equation'" in calculation.error


# --- Deleting --------------------------------------------------------------------------------


def test_calculations_delete_all_removes_every_row_and_every_output():
    make_calculation(n=1)
    make_calculation(n=2, status=S.RUNNING, started_at=timezone.now())
    make_success("12345")
    make_success("9" * 100)
    make_finished(S.ERROR, error="boom")

    assert services.calculations_delete() == 5
    assert Calculation.objects.count() == 0
    assert CalculationOutput.objects.count() == 0


def test_calculations_delete_all_of_an_empty_table_returns_zero():
    assert services.calculations_delete() == 0


def test_calculations_delete_all_handles_retries_pointing_at_deleted_rows():
    original = make_finished(S.ERROR, error="boom")
    make_calculation(n=original.n, retry_of=original)
    assert services.calculations_delete() == 2
    assert Calculation.objects.count() == 0


def test_calculations_delete_finished_before_deletes_only_old_finished_rows():
    cutoff = timezone.now() - timedelta(days=1)
    old = timedelta(days=3)
    old_success = make_success("111", finished_ago=old)
    old_error = make_finished(S.ERROR, finished_ago=old, error="boom")
    recent_success = make_success("222")
    recent_error = make_finished(S.ERROR, finished_ago=timedelta(hours=1), error="boom")
    old_pending = make_calculation(created_at=timezone.now() - old)
    old_running = make_calculation(
        status=S.RUNNING,
        created_at=timezone.now() - old,
        started_at=timezone.now() - old,
        attempts=1,
    )

    assert services.calculations_delete(finished_before=cutoff) == 2

    remaining = set(Calculation.objects.values_list("pk", flat=True))
    assert remaining == {recent_success.pk, recent_error.pk, old_pending.pk, old_running.pk}
    assert not {old_success.pk, old_error.pk} & remaining
    outputs = set(CalculationOutput.objects.values_list("calculation_id", flat=True))
    assert outputs == {recent_success.pk}


@pytest.mark.parametrize("status", [S.PENDING, S.RUNNING])
def test_calculations_delete_finished_before_goes_by_status_not_only_finished_at(status):
    # A row requeued after an earlier run could carry an old finished_at: still not final.
    old = timezone.now() - timedelta(days=3)
    active = make_calculation(status=status, started_at=old, finished_at=old)
    assert services.calculations_delete(finished_before=timezone.now()) == 0
    assert Calculation.objects.filter(pk=active.pk).exists()


def test_calculations_delete_finished_before_treats_cancelled_as_finished():
    cancelled = make_finished(S.CANCELLED, finished_ago=timedelta(days=3))
    assert services.calculations_delete(finished_before=timezone.now()) == 1
    assert not Calculation.objects.filter(pk=cancelled.pk).exists()


def test_calculations_delete_finished_before_keeps_a_retry_of_a_deleted_row():
    original = make_finished(S.ERROR, finished_ago=timedelta(days=3), error="boom")
    retry = make_calculation(n=original.n, retry_of=original)
    assert services.calculations_delete(finished_before=timezone.now()) == 1
    retry.refresh_from_db()
    assert retry.retry_of is None


def test_calculations_delete_works_through_several_batches(monkeypatch):
    monkeypatch.setattr(services, "_DELETE_BATCH_SIZE", 2)
    for n in range(5):
        make_success(str(n + 1))
    assert services.calculations_delete() == 5
    assert Calculation.objects.count() == 0
    assert CalculationOutput.objects.count() == 0
