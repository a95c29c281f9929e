import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from calculations.models import Calculation


class Subscription(models.Model):
    """A request to be told when calculations are final, made with their submission.

    An email subscription sends one email once every one of its calculations is final (a
    batch is the calculations of one submission); a webhook subscription posts one signed
    event per calculation as each becomes final.
    """

    class Kind(models.TextChoices):
        EMAIL = "email", "Email"
        WEBHOOK = "webhook", "Webhook"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    target = models.CharField(max_length=2000)  # an email address or a callback URL
    # Webhooks: the HMAC key of the signature header, shown to the client once, in the
    # response to the submission; the receiver needs it, so it is kept as given.
    secret = models.CharField(max_length=128, blank=True)
    calculations = models.ManyToManyField(
        Calculation, through="SubscriptionCalculation", related_name="subscriptions"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # Set once every delivery the subscription owes exists; the sweeper looks only at the
    # subscriptions still open, so its work does not grow with history.
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(
                fields=["created_at"],
                condition=Q(completed_at__isnull=True),
                name="subscription_open",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {self.target}"


class SubscriptionCalculation(models.Model):
    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="links")
    # Indexed (a foreign key): the finish hook asks "does anyone wait for these ids?".
    calculation = models.ForeignKey(
        Calculation, on_delete=models.CASCADE, related_name="subscription_links"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "calculation"], name="subscription_calculation_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.subscription_id} → {self.calculation_id}"


class Delivery(models.Model):
    """What one subscription owes for one final event: an email for its whole batch, or a
    webhook event for one calculation. At most one of each exists (unique constraints),
    however often a worker or the sweeper asks for it: the idempotency of notifications."""

    class Status(models.TextChoices):
        PENDING = "PENDING", "Pending"  # due at next_attempt_at
        SENDING = "SENDING", "Sending"  # claimed by a worker until claimed_until
        DELIVERED = "DELIVERED", "Delivered"
        FAILED = "FAILED", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    # The calculation of a webhook event; null for an email, which covers the whole batch.
    calculation = models.ForeignKey(
        Calculation,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notification_deliveries",
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    # The JSON body of a webhook event, fixed when the delivery is created, so that every
    # attempt sends the same event (receivers deduplicate by its id, the delivery's id).
    payload = models.TextField(blank=True)
    # Attempts since the delivery was created or last sent again; capped by
    # CALCQUEUE_NOTIFY_MAX_ATTEMPTS. Counted when claimed, so a crash loop is capped too.
    attempts = models.PositiveIntegerField(default=0)
    resends = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "calculation"], name="delivery_once_per_calculation"
            ),
            # NULLs are distinct in a unique index: the batch email needs its own.
            models.UniqueConstraint(
                fields=["subscription"],
                condition=Q(calculation__isnull=True),
                name="delivery_once_per_batch",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="delivery_status_due"),
            models.Index(fields=["status", "claimed_until"], name="delivery_status_claim"),
        ]

    def __str__(self) -> str:
        return f"{self.subscription} {self.status}"


class DeliveryAttempt(models.Model):
    """One try at a delivery, kept for the calculation's page, the API and the admin."""

    class Outcome(models.TextChoices):
        DELIVERED = "delivered", "Delivered"
        RETRY = "retry", "Will retry"
        FAILED = "failed", "Failed"

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempts_made")
    started_at = models.DateTimeField()
    duration_seconds = models.FloatField()
    # The HTTP status of a webhook's answer, or the SMTP reply code of a refused email.
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)

    class Meta:
        ordering = ["started_at", "id"]

    def __str__(self) -> str:
        return f"{self.delivery_id} {self.outcome} at {self.started_at:%H:%M:%S}"
