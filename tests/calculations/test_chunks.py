"""A chunk of short calculations: one claim and one write, the guarantees of each kept."""

from datetime import timedelta

import pytest
from django.utils import timezone

from calculations import services
from calculations.claims import Claimant
from calculations.models import Calculation, CalculationOutput
from tests.calculations.factories import make_calculation, owner_caller

pytestmark = pytest.mark.django_db
S = Calculation.Status
CLAIMANT = Claimant("chunk@host", 4242)
FIBONACCI = {10: "55", 20: "6765", 30: "832040", 90: "2880067194370816120"}


def run(calculations: list[Calculation], claimant: Claimant = CLAIMANT) -> None:
    services.calculations_run_chunk(
        calculation_ids=[str(c.pk) for c in calculations], claimant=claimant
    )


def outputs() -> dict[int, str]:
    return {
        o.calculation.n: o.digits for o in CalculationOutput.objects.select_related("calculation")
    }


def test_run_chunk_stores_every_exact_result_with_one_attempt_each():
    calculations = [make_calculation(n=n) for n in FIBONACCI]
    run(calculations)
    assert outputs() == FIBONACCI
    for calculation in Calculation.objects.all():
        assert (calculation.status, calculation.attempts, calculation.worker) == (
            S.SUCCESS,
            1,
            CLAIMANT.name,
        )
        assert calculation.output_digits == len(FIBONACCI[calculation.n])
        assert calculation.started_at <= calculation.finished_at
        assert calculation.lease_expires_at is None


def test_run_chunk_delivered_twice_stores_one_result():
    calculations = [make_calculation(n=n) for n in FIBONACCI]
    run(calculations)
    run(calculations, Claimant("other@host", 1))
    assert CalculationOutput.objects.count() == len(FIBONACCI)
    assert set(Calculation.objects.values_list("attempts", "worker")) == {(1, CLAIMANT.name)}


def test_run_chunk_leaves_cancelled_and_finished_calculations_alone():
    cancelled = make_calculation(n=10)
    services.calculation_cancel(caller=owner_caller(), calculation_id=cancelled.pk)
    pending = make_calculation(n=20)
    run([cancelled, pending])
    cancelled.refresh_from_db()
    assert (cancelled.status, cancelled.attempts) == (S.CANCELLED, 0)
    assert outputs() == {20: "6765"}


def test_run_chunk_gives_up_on_a_calculation_out_of_attempts(settings):
    exhausted = make_calculation(n=10, attempts=settings.CALCQUEUE_MAX_ATTEMPTS)
    run([exhausted, make_calculation(n=20)])
    exhausted.refresh_from_db()
    assert exhausted.status == S.ERROR
    assert exhausted.error == "gave up after 3 attempts: worker lost"
    assert outputs() == {20: "6765"}


def test_run_chunk_stores_a_failure_as_that_calculation_s_error_only(monkeypatch):
    real_evaluate = services.evaluate

    def evaluate(equation, n, *args):
        if n == 20:
            raise ArithmeticError("no luck with 20")
        return real_evaluate(equation, n, *args)

    monkeypatch.setattr(services, "evaluate", evaluate)
    run([make_calculation(n=10), make_calculation(n=20), make_calculation(n=30)])
    assert outputs() == {10: "55", 30: "832040"}
    failed = Calculation.objects.get(n=20)
    assert (failed.status, failed.error) == (S.ERROR, "ArithmeticError: no luck with 20")


def test_run_chunk_does_not_store_a_result_whose_claim_was_lost(monkeypatch):
    real_evaluate = services.evaluate

    def evaluate(equation, n, *args):
        if n == 20:
            # The sweeper judged this claim lost and handed the calculation back meanwhile.
            Calculation.objects.filter(n=20).update(status=S.PENDING, worker="", started_at=None)
        return real_evaluate(equation, n, *args)

    monkeypatch.setattr(services, "evaluate", evaluate)
    run([make_calculation(n=10), make_calculation(n=20)])
    assert outputs() == {10: "55"}
    assert Calculation.objects.get(n=20).status == S.PENDING


def test_run_chunk_skips_a_calculation_running_under_a_live_claim():
    running = make_calculation(
        n=10,
        status=S.RUNNING,
        attempts=1,
        worker="elsewhere@host:1",
        started_at=timezone.now(),
        lease_expires_at=timezone.now() + timedelta(seconds=30),
    )
    run([running, make_calculation(n=20)])
    running.refresh_from_db()
    assert (running.status, running.worker) == (S.RUNNING, "elsewhere@host:1")
    assert outputs() == {20: "6765"}
