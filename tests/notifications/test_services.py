"""The notification services on the test database; the broker is replaced by lists."""

from datetime import timedelta

import pytest
from django.utils import timezone

from calculations import services as calculation_services
from calculations.claims import Claimant
from calculations.models import Calculation
from notifications import services
from notifications.models import Delivery, DeliveryAttempt, Subscription
from notifications.targets import EmailTarget, WebhookTarget
from tests.calculations.factories import make_calculation, make_finished, owner_caller

pytestmark = pytest.mark.django_db
S, D = Calculation.Status, Delivery.Status
CLAIMANT = Claimant("test@host", 4242)
HOOK = WebhookTarget(url="http://127.0.0.1:9/hook", secret="whsec_test")
MAIL = EmailTarget(address="ada@example.com")


@pytest.fixture(autouse=True)
def broker(monkeypatch) -> dict[str, list]:
    """What would have been published: prepare messages and deliver messages."""
    sent: dict[str, list] = {"prepare": [], "deliver": []}
    monkeypatch.setattr(calculation_services, "_enqueue", lambda calculations: None)
    from notifications import tasks

    monkeypatch.setattr(tasks.prepare_deliveries, "delay", sent["prepare"].append)
    monkeypatch.setattr(services, "_publish", lambda ids, countdown: sent["deliver"].extend(ids))
    return sent


def subscribed(*calculations: Calculation, targets=(HOOK,)) -> list[Subscription]:
    return services.subscriptions_create(calculations=calculations, targets=targets)


# --- Submitting ------------------------------------------------------------------------------


def test_submit_with_targets_subscribes_them_to_the_whole_submission():
    created = calculation_services.calculations_submit(
        caller=owner_caller(), equation="fibonacci", inputs=[1, 2, 3], notify=[MAIL, HOOK]
    )
    email, webhook = Subscription.objects.order_by("kind")
    assert (email.kind, email.target, email.secret) == ("email", "ada@example.com", "")
    assert (webhook.kind, webhook.target, webhook.secret) == ("webhook", HOOK.url, HOOK.secret)
    for subscription in (email, webhook):
        assert set(subscription.calculations.all()) == set(created)


def test_submit_refused_creates_no_subscription():
    with pytest.raises(Exception, match="from 0"):
        calculation_services.calculations_submit(
            caller=owner_caller(), equation="fibonacci", inputs=[1, 10**12], notify=[MAIL]
        )
    assert not Subscription.objects.exists() and not Calculation.objects.exists()


# --- The hook --------------------------------------------------------------------------------


def test_calculations_finished_without_subscribers_costs_one_query_and_sends_nothing(
    broker, django_assert_num_queries, django_capture_on_commit_callbacks
):
    calculations = [make_finished(S.SUCCESS) for _ in range(100)]
    with django_assert_num_queries(1), django_capture_on_commit_callbacks(execute=True):
        services.calculations_finished(calculation_ids=[c.pk for c in calculations])
    assert broker["prepare"] == []


def test_calculations_finished_announces_only_subscribed_calculations(
    broker, django_capture_on_commit_callbacks
):
    watched, unwatched = make_finished(S.SUCCESS), make_finished(S.ERROR)
    subscribed(watched)
    with django_capture_on_commit_callbacks(execute=True):
        services.calculations_finished(calculation_ids=[watched.pk, unwatched.pk])
    assert broker["prepare"] == [[str(watched.pk)]]


def test_calculations_finished_survives_a_database_error(
    broker, monkeypatch, django_capture_on_commit_callbacks
):
    from django.db import OperationalError

    def broken(*args, **kwargs):
        raise OperationalError("database is locked")

    monkeypatch.setattr(services.SubscriptionCalculation.objects, "filter", broken)
    with django_capture_on_commit_callbacks(execute=True):
        services.calculations_finished(calculation_ids=[make_finished(S.SUCCESS).pk])
    assert broker["prepare"] == []  # left to the sweeper


def _announced(broker, action, django_capture_on_commit_callbacks) -> list[list[str]]:
    with django_capture_on_commit_callbacks(execute=True):
        action()
    return broker["prepare"]


@pytest.mark.parametrize("fails", [False, True])
def test_a_run_that_ends_in_success_or_error_announces_it(
    broker, django_capture_on_commit_callbacks, monkeypatch, fails
):
    if fails:

        def evaluate(*args, **kwargs):
            raise OverflowError("no luck")

        monkeypatch.setattr(calculation_services, "evaluate", evaluate)
    calculation = make_calculation(n=30)
    subscribed(calculation)

    def run():
        calculation_services.calculation_run(calculation_id=calculation.pk, claimant=CLAIMANT)

    assert _announced(broker, run, django_capture_on_commit_callbacks) == [[str(calculation.pk)]]
    calculation.refresh_from_db()
    assert calculation.status == (S.ERROR if fails else S.SUCCESS)


def test_a_chunk_announces_its_subscribed_calculations_in_one_message(
    broker, django_capture_on_commit_callbacks
):
    calculations = [make_calculation(n=n) for n in (10, 20, 30, 40)]
    subscribed(*calculations[:2])

    def run():
        calculation_services.calculations_run_chunk(
            calculation_ids=[str(c.pk) for c in calculations], claimant=CLAIMANT
        )

    (announced,) = _announced(broker, run, django_capture_on_commit_callbacks)
    assert sorted(announced) == sorted(str(c.pk) for c in calculations[:2])


def test_cancelling_a_pending_calculation_announces_it(broker, django_capture_on_commit_callbacks):
    calculation = make_calculation()
    subscribed(calculation)

    def cancel():
        calculation_services.calculation_cancel(
            caller=owner_caller(), calculation_id=calculation.pk
        )

    assert _announced(broker, cancel, django_capture_on_commit_callbacks) == [[str(calculation.pk)]]


def test_the_sweeper_giving_up_announces_it(broker, django_capture_on_commit_callbacks, settings):
    lost = make_calculation(
        status=S.RUNNING,
        attempts=settings.CALCQUEUE_MAX_ATTEMPTS,
        started_at=timezone.now() - timedelta(seconds=60),
        lease_expires_at=timezone.now() - timedelta(seconds=1),
        worker="gone@host:1",
    )
    subscribed(lost)

    def sweep():
        calculation_services.calculations_sweep()

    assert _announced(broker, sweep, django_capture_on_commit_callbacks) == [[str(lost.pk)]]
    lost.refresh_from_db()
    assert lost.status == S.ERROR


# --- Creating deliveries ---------------------------------------------------------------------


def test_deliveries_create_makes_one_event_per_final_calculation_however_often_called():
    done, running = (
        make_finished(S.SUCCESS, output_head="55", output_digits=2),
        make_calculation(status=S.RUNNING),
    )
    (subscription,) = subscribed(done, running)
    for _ in range(3):
        owed = services.deliveries_create(calculation_ids=[done.pk, running.pk])
    (delivery,) = Delivery.objects.all()
    assert owed == [delivery.pk]
    assert (delivery.calculation_id, delivery.status, delivery.attempts) == (done.pk, D.PENDING, 0)
    assert f'"id":"{delivery.pk}"' in delivery.payload and '"output":"55"' in delivery.payload
    subscription.refresh_from_db()
    assert subscription.completed_at is None  # one calculation still runs

    Calculation.objects.filter(pk=running.pk).update(status=S.CANCELLED, finished_at=timezone.now())
    services.deliveries_create(calculation_ids=[running.pk])
    assert Delivery.objects.count() == 2
    subscription.refresh_from_db()
    assert subscription.completed_at is not None


def test_batch_email_is_owed_only_once_every_calculation_is_final():
    first, second = make_finished(S.SUCCESS), make_calculation(status=S.RUNNING)
    (subscription,) = subscribed(first, second, targets=[MAIL])
    assert services.deliveries_create(calculation_ids=[first.pk]) == []
    assert not Delivery.objects.exists()

    Calculation.objects.filter(pk=second.pk).update(status=S.ERROR, finished_at=timezone.now())
    for _ in range(2):
        services.deliveries_create(calculation_ids=[second.pk])
        services.deliveries_create(calculation_ids=[first.pk, second.pk])
    (delivery,) = Delivery.objects.all()
    assert delivery.calculation_id is None and delivery.subscription == subscription
    subscription.refresh_from_db()
    assert subscription.completed_at is not None


def test_prepare_task_sends_what_it_created(broker):
    from notifications.tasks import prepare_deliveries

    calculation = make_finished(S.SUCCESS)
    subscribed(calculation, targets=[HOOK, MAIL])
    with_callbacks = prepare_deliveries.run  # the task body, without a broker
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(services.transaction, "on_commit", lambda callback, robust=False: callback())
        with_callbacks([str(calculation.pk)])
    assert sorted(broker["deliver"]) == sorted(
        str(pk) for pk in Delivery.objects.values_list("pk", flat=True)
    )
    assert len(broker["deliver"]) == 2


# --- Claims, resend, sweep -------------------------------------------------------------------


def _delivery(**fields) -> Delivery:
    calculation = make_finished(S.SUCCESS)
    (subscription,) = subscribed(calculation)
    return Delivery.objects.create(
        subscription=subscription, calculation=calculation, payload="{}", **fields
    )


def test_delivery_send_skips_what_it_cannot_claim():
    for fields in (
        {"status": D.DELIVERED},
        {"status": D.FAILED},
        {"status": D.SENDING, "claimed_until": timezone.now() + timedelta(seconds=60)},
        {"next_attempt_at": timezone.now() + timedelta(seconds=60)},
    ):
        delivery = _delivery(**fields)
        assert services.delivery_send(delivery_id=delivery.pk) == "skipped"
        assert not DeliveryAttempt.objects.filter(delivery=delivery).exists()


def test_delivery_resend_starts_a_new_round_for_a_failed_delivery_only(
    broker, django_capture_on_commit_callbacks
):
    failed = _delivery(status=D.FAILED, attempts=8, last_error="HTTP 500")
    with django_capture_on_commit_callbacks(execute=True):
        resent = services.delivery_resend(delivery_id=failed.pk)
    assert (resent.status, resent.attempts, resent.resends) == (D.PENDING, 0, 1)
    assert broker["deliver"] == [str(failed.pk)]
    with pytest.raises(services.DeliveryStateError, match="this one is PENDING"):
        services.delivery_resend(delivery_id=failed.pk)
    delivered = _delivery(status=D.DELIVERED)
    with pytest.raises(services.DeliveryStateError, match="DELIVERED"):
        services.delivery_resend(delivery_id=delivered.pk)


def test_notification_resend_finds_the_batch_email_from_any_of_its_calculations(
    django_capture_on_commit_callbacks,
):
    first, second = make_finished(S.SUCCESS), make_finished(S.SUCCESS)
    (subscription,) = subscribed(first, second, targets=[MAIL])
    delivery = Delivery.objects.create(subscription=subscription, status=D.FAILED)
    with django_capture_on_commit_callbacks(execute=True):
        resent = services.notification_resend(
            caller=owner_caller(), calculation_id=second.pk, subscription_id=subscription.pk
        )
    assert resent.pk == delivery.pk and resent.status == D.PENDING
    with pytest.raises(services.SubscriptionCalculation.DoesNotExist):
        services.notification_resend(
            caller=owner_caller(),
            calculation_id=make_finished(S.SUCCESS).pk,
            subscription_id=subscription.pk,
        )


def test_sweep_creates_lost_deliveries_and_resends_due_and_lapsed_ones(
    broker, settings, django_capture_on_commit_callbacks
):
    long_ago = timezone.now() - timedelta(minutes=5)
    lost_event = make_finished(S.SUCCESS, finished_ago=timedelta(minutes=5))
    subscribed(lost_event)
    lost_batch = make_finished(S.ERROR, finished_ago=timedelta(minutes=5))
    (email,) = subscribed(lost_batch, targets=[MAIL])
    Subscription.objects.update(created_at=long_ago)
    due = _delivery(next_attempt_at=long_ago)
    lapsed = _delivery(status=D.SENDING, attempts=1, claimed_until=long_ago)
    exhausted = _delivery(
        status=D.SENDING, attempts=settings.CALCQUEUE_NOTIFY_MAX_ATTEMPTS, claimed_until=long_ago
    )
    with django_capture_on_commit_callbacks(execute=True):
        report = services.notifications_sweep()
    assert (report.created, report.reclaimed) == (2, 2)
    created = set(Delivery.objects.filter(calculation=lost_event).values_list("pk", flat=True))
    created |= set(Delivery.objects.filter(subscription=email).values_list("pk", flat=True))
    assert len(created) == 2
    assert set(broker["deliver"]) == {str(pk) for pk in created | {due.pk, lapsed.pk, exhausted.pk}}
    lapsed.refresh_from_db()
    exhausted.refresh_from_db()
    assert (lapsed.status, lapsed.claimed_until) == (D.PENDING, None)
    assert exhausted.status == D.FAILED and "gave up after 8 attempts" in exhausted.last_error

    broker["deliver"].clear()
    with django_capture_on_commit_callbacks(execute=True):
        again = services.notifications_sweep()
    assert again.created == 0 and Delivery.objects.count() == 5


def test_a_deleted_calculation_takes_its_deliveries_and_its_empty_subscription_is_closed():
    calculation = make_finished(S.SUCCESS)
    (subscription,) = subscribed(calculation, targets=[HOOK])
    services.deliveries_create(calculation_ids=[calculation.pk])
    calculation_services.calculation_delete(caller=owner_caller(), calculation_id=calculation.pk)
    assert not Delivery.objects.exists()
    Subscription.objects.update(created_at=timezone.now() - timedelta(minutes=5), completed_at=None)
    services.notifications_sweep()
    subscription.refresh_from_db()
    assert subscription.completed_at is not None
