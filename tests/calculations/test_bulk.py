from datetime import timedelta

import pytest
from django.db import transaction
from django.forms.models import model_to_dict
from django.utils import timezone

from calculations import bulk
from calculations.models import Calculation
from tests.calculations.factories import make_calculation

pytestmark = pytest.mark.django_db

S = Calculation.Status


def _fields(calculation: Calculation) -> dict:
    return model_to_dict(Calculation.objects.get(pk=calculation.pk)) | {"id": calculation.pk}


def _varied_rows(count: int, *, now) -> list[Calculation]:
    return [
        Calculation(
            equation="factorial" if index % 2 else "fibonacci",
            n=2**40 + index,
            status=[S.PENDING, S.RUNNING, S.SUCCESS][index % 3],
            error="ünïcode – error" if index % 3 == 2 else "",
            progress=None if index % 2 else index / count,
            created_at=now + timedelta(microseconds=index),
            enqueued_at=now,
            started_at=None if index % 2 else now - timedelta(days=index),
            attempts=index,
            worker=f"node@host:{index}",
        )
        for index in range(count)
    ]


def test_insert_rows_stores_every_field_as_bulk_create_does():
    now = timezone.now()
    ours, theirs = _varied_rows(30, now=now), _varied_rows(30, now=now)
    with transaction.atomic():
        bulk.insert_rows(ours)
    Calculation.objects.bulk_create(theirs)

    for mine, reference in zip(ours, theirs, strict=True):
        stored, expected = _fields(mine), _fields(reference)
        assert stored.pop("id") != expected.pop("id")
        assert stored == expected
        assert not mine._state.adding


def test_insert_rows_with_no_rows_does_nothing():
    bulk.insert_rows([])

    assert not Calculation.objects.exists()


def test_update_rows_writes_only_the_named_fields():
    rows = [make_calculation(n=n, worker="before") for n in range(5)]
    for row in rows:
        row.status, row.error, row.worker = S.ERROR, f"failed {row.n}", "after"

    with transaction.atomic():
        bulk.update_rows(rows[:3], ["status", "error"])

    stored = {row.n: row for row in Calculation.objects.all()}
    assert [(stored[n].status, stored[n].error, stored[n].worker) for n in range(5)] == [
        (S.ERROR, "failed 0", "before"),
        (S.ERROR, "failed 1", "before"),
        (S.ERROR, "failed 2", "before"),
        (S.PENDING, "", "before"),
        (S.PENDING, "", "before"),
    ]


def test_update_returning_changes_and_returns_only_the_matching_rows():
    pending = make_calculation(n=1, attempts=1)
    exhausted = make_calculation(n=2, attempts=3)
    running = make_calculation(n=3, status=S.RUNNING, worker="other")
    elsewhere = make_calculation(n=4)
    started = timezone.now()

    with transaction.atomic():
        returned = bulk.update_returning(
            Calculation,
            pks=[pending.pk, exhausted.pk, running.pk],
            where={"status": S.PENDING},
            below={"attempts": 3},
            assignments={"status": S.RUNNING, "started_at": started, "worker": "mine"},
            increments=["attempts"],
        )

    assert [(row.pk, row.status, row.started_at, row.worker, row.attempts) for row in returned] == [
        (pending.pk, S.RUNNING, started, "mine", 2)
    ]
    assert _fields(returned[0]) == model_to_dict(returned[0]) | {"id": pending.pk}
    for untouched in (exhausted, running, elsewhere):
        assert _fields(untouched) == model_to_dict(untouched) | {"id": untouched.pk}


def test_update_returning_with_no_keys_returns_nothing():
    assert bulk.update_returning(Calculation, pks=[], where={}, assignments={"n": 1}) == []
