import pytest
from django.core.exceptions import ValidationError

from calculations import services
from calculations.models import Calculation
from tests.calculations.factories import owner_caller

pytestmark = pytest.mark.django_db


@pytest.fixture
def published(monkeypatch) -> list[str]:
    ids: list[str] = []
    monkeypatch.setattr(services, "_enqueue", lambda calcs: ids.extend(str(c.pk) for c in calcs))
    return ids


def test_submit_enqueues_ids_only_after_the_transaction_commits(
    published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        created = services.calculations_submit(
            caller=owner_caller(), equation="fibonacci", inputs=[39, 4, 6, 32]
        )
        assert published == []
    assert len(callbacks) == 1
    callbacks[0]()
    assert published == [str(c.pk) for c in created]


def test_submit_creates_pending_rows_in_the_order_typed(published):
    created = services.calculations_submit(
        caller=owner_caller(), equation="fibonacci", inputs=[39, 4, 6, 32]
    )
    rows = list(Calculation.objects.order_by("created_at"))
    assert [r.n for r in rows] == [39, 4, 6, 32]
    assert {r.status for r in rows} == {"PENDING"}
    assert [r.pk for r in rows] == [c.pk for c in created]


def test_submit_is_all_or_nothing(published, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ValidationError):
        services.calculations_submit(
            caller=owner_caller(), equation="fibonacci", inputs=[1, 2, 10_000_001]
        )
    assert Calculation.objects.count() == 0
    assert published == []


def test_submit_refuses_an_unknown_equation(published):
    with pytest.raises(ValidationError, match="known equations"):
        services.calculations_submit(caller=owner_caller(), equation="nope", inputs=[1])


def test_submit_honours_a_configured_bound(published, settings):
    settings.CALCQUEUE_MAX_N = {"fibonacci": 50}
    services.calculations_submit(caller=owner_caller(), equation="fibonacci", inputs=[50])
    with pytest.raises(ValidationError, match="0 to 50"):
        services.calculations_submit(caller=owner_caller(), equation="fibonacci", inputs=[51])
