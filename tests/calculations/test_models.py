from datetime import timedelta

import pytest
from django.utils import timezone

from calculations.models import Calculation

S = Calculation.Status


def running(*, seconds: float, progress: float | None) -> Calculation:
    return Calculation(
        equation="factorial",
        n=10,
        status=S.RUNNING,
        started_at=timezone.now() - timedelta(seconds=seconds),
        progress=progress,
    )


def test_time_remaining_extrapolates_the_rate_so_far():
    remaining = running(seconds=10, progress=0.25).time_remaining
    assert remaining == pytest.approx(timedelta(seconds=30), abs=timedelta(seconds=0.5))


def test_time_remaining_is_zero_when_all_work_is_reported():
    assert running(seconds=4, progress=1.0).time_remaining == timedelta(0)


@pytest.mark.parametrize("progress", [None, 0.0, 0.005])
def test_time_remaining_is_unknown_without_enough_progress(progress):
    assert running(seconds=10, progress=progress).time_remaining is None


@pytest.mark.parametrize("status", [S.PENDING, S.SUCCESS, S.ERROR, S.CANCELLED])
def test_time_remaining_is_unknown_unless_running(status):
    calculation = running(seconds=10, progress=0.5)
    calculation.status = status
    assert calculation.time_remaining is None
