"""Reads of notifications for display: what each calculation asked for and how it went."""

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Prefetch, Q

from notifications.models import Delivery, DeliveryAttempt, Subscription, SubscriptionCalculation

# Shown for a notification whose event has not happened yet (calculation or batch not final).
WAITING = "WAITING"


@dataclass(frozen=True)
class NotificationView:
    """A calculation's notification: its subscription and, once owed, its delivery."""

    subscription: Subscription
    calculation_id: uuid.UUID
    delivery: Delivery | None

    @property
    def status(self) -> str:
        return self.delivery.status if self.delivery else WAITING

    @property
    def attempts(self) -> list[DeliveryAttempt]:
        return list(self.delivery.attempts_made.all()) if self.delivery else []

    @property
    def is_active(self) -> bool:
        return self.status in {WAITING, Delivery.Status.PENDING, Delivery.Status.SENDING}

    @property
    def can_resend(self) -> bool:
        return self.status == Delivery.Status.FAILED

    @property
    def next_attempt_at(self) -> datetime | None:
        if self.delivery and self.delivery.status == Delivery.Status.PENDING:
            return self.delivery.next_attempt_at
        return None


def notifications_for(
    *, calculation_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[NotificationView]]:
    """Each calculation's notifications, oldest first: one query when there are none, three
    when there are (links with subscriptions, deliveries, attempts)."""
    links = list(
        SubscriptionCalculation.objects.filter(calculation_id__in=calculation_ids)
        .select_related("subscription")
        .order_by("subscription__created_at", "subscription_id")
    )
    views: dict[uuid.UUID, list[NotificationView]] = defaultdict(list)
    if not links:
        return views
    subscription_ids = {link.subscription_id for link in links}
    deliveries = {
        (delivery.subscription_id, delivery.calculation_id): delivery
        for delivery in Delivery.objects.filter(
            Q(calculation_id__in=calculation_ids) | Q(calculation__isnull=True),
            subscription_id__in=subscription_ids,
        ).prefetch_related(
            Prefetch("attempts_made", DeliveryAttempt.objects.order_by("started_at"))
        )
    }
    for link in links:
        event = link.calculation_id if link.subscription.kind == Subscription.Kind.WEBHOOK else None
        views[link.calculation_id].append(
            NotificationView(
                subscription=link.subscription,
                calculation_id=link.calculation_id,
                delivery=deliveries.get((link.subscription_id, event)),
            )
        )
    return views
