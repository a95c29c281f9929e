import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

# Below this fraction done, the extrapolated remaining time is mostly noise.
ETA_MIN_PROGRESS = 0.01


class Calculation(models.Model):
    """One requested calculation and its lifecycle; the row is the result (no Celery backend).

    The output's decimal digits live in `CalculationOutput`, so that listing calculations never
    reads them; the row keeps the digit count and the first and last digits for previews.
    """

    class Status(models.TextChoices):
        PENDING = "PENDING", "Pending"
        RUNNING = "RUNNING", "Running"
        SUCCESS = "SUCCESS", "Success"
        ERROR = "ERROR", "Error"
        CANCELLED = "CANCELLED", "Cancelled"

    FINAL_STATUSES = frozenset({Status.SUCCESS, Status.ERROR, Status.CANCELLED})

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    equation = models.CharField(max_length=64)
    n = models.PositiveBigIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(blank=True)
    # Fraction done (0 to 1) while RUNNING, for equations that report it honestly; else null.
    progress = models.FloatField(null=True, blank=True)
    output_digits = models.PositiveBigIntegerField(null=True, blank=True)
    output_head = models.CharField(max_length=64, blank=True)
    output_tail = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # When the id was last handed to the broker; the sweeper enqueues it again if it waits
    # too long while the broker's queue could not be holding it.
    enqueued_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # "<celery node>:<pid>" of the process that holds the claim.
    worker = models.CharField(max_length=255, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # The claim of a RUNNING row lapses unless its worker keeps extending it (heartbeat).
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    retry_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retries"
    )
    # Whose it is: a user, or an anonymous visitor's session (accounts.callers.SESSION_FIELD,
    # a random key kept in the session's data) until they sign in and adopt it.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="calculations",
    )
    anonymous_key = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="calculation_newest_first"),
            models.Index(fields=["status", "created_at"], name="calculation_status_age"),
            models.Index(fields=["status", "enqueued_at"], name="calculation_status_enqueued"),
            models.Index(fields=["status", "lease_expires_at"], name="calculation_status_lease"),
            models.Index(
                fields=["equation", "-created_at", "-id"], name="calculation_equation_newest"
            ),
            models.Index(fields=["owner", "-created_at", "-id"], name="calculation_owner_newest"),
            models.Index(
                fields=["anonymous_key", "-created_at", "-id"], name="calculation_anonymous_newest"
            ),
            # Finished-per-minute counts, the newest durations and retention: ranges of
            # finished_at, with the status read from the index itself.
            models.Index(fields=["finished_at", "status"], name="calculation_finished"),
        ]

    def __str__(self) -> str:
        return f"{self.equation}({self.n}) {self.status}"

    def get_absolute_url(self) -> str:
        return reverse("calculations:detail", kwargs={"calculation_id": self.id})

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL_STATUSES

    @property
    def can_cancel(self) -> bool:
        return not self.is_final and self.cancel_requested_at is None

    @property
    def can_retry(self) -> bool:
        return self.status in {self.Status.ERROR, self.Status.CANCELLED}

    @property
    def output_is_truncated(self) -> bool:
        return bool(self.output_tail)

    @property
    def time_queued(self) -> timedelta:
        return (self.started_at or timezone.now()) - self.created_at

    @property
    def time_running(self) -> timedelta | None:
        if self.started_at is None:
            return None
        return (self.finished_at or timezone.now()) - self.started_at

    @property
    def time_remaining(self) -> timedelta | None:
        """The running time still to go if the rest goes as fast as the fraction done so far;
        None until there is enough progress to extrapolate from."""
        if self.status != self.Status.RUNNING or self.started_at is None:
            return None
        if self.progress is None or self.progress < ETA_MIN_PROGRESS:
            return None
        return self.time_running * ((1 - min(self.progress, 1.0)) / self.progress)


class CalculationOutput(models.Model):
    """The exact decimal digits of a successful calculation's output, of any length."""

    calculation = models.OneToOneField(
        Calculation, primary_key=True, on_delete=models.CASCADE, related_name="output"
    )
    digits = models.TextField()

    def __str__(self) -> str:
        return f"output of {self.calculation_id}"


class IdempotencyKey(models.Model):
    """The first response to an API request sent with an Idempotency-Key header, replayed to
    every retry of the same request (same method, path and body) by the same caller until it
    expires."""

    # Whose key it is (accounts.callers.Caller.owner_key): two callers may pick the same key.
    scope = models.CharField(max_length=100, default="")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)  # SHA-256 of method, path and body
    response_status = models.PositiveSmallIntegerField(null=True)  # None while in progress
    response_body = models.TextField(blank=True)
    response_location = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scope", "key"], name="idempotency_key_per_scope")
        ]

    def __str__(self) -> str:
        return self.key
