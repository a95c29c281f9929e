"""What the API accepts and answers, as Pydantic models: they validate requests and are the
OpenAPI schema."""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Literal

from django.urls import reverse
from ninja import Schema
from pydantic import ConfigDict, Discriminator, Field, StrictInt, Tag

from calculations.models import Calculation
from notifications.selectors import NotificationView

StatusName = Literal["PENDING", "RUNNING", "SUCCESS", "ERROR", "CANCELLED"]


class Strict(Schema):
    model_config = ConfigDict(extra="forbid")


class ItemIn(Strict):
    equation: Annotated[str, Field(max_length=64, examples=["fibonacci"])]
    # Strict: "39", 39.0 and true are refused rather than read as 39.
    n: Annotated[StrictInt, Field(ge=0, examples=[39])]


class NotifyIn(Strict):
    notify_email: Annotated[
        str | None,
        Field(
            max_length=254,
            description="Email this address once every calculation of the submission is "
            "final: your account's address, or any where the server allows it.",
        ),
    ] = None
    callback_url: Annotated[
        str | None,
        Field(
            max_length=2000,
            description="POST a signed JSON event here as each calculation becomes final "
            "(http or https, public addresses only). The signing secret is in the response, "
            "once.",
        ),
    ] = None


class CalculationIn(ItemIn, NotifyIn):
    pass


class BatchIn(NotifyIn):
    items: Annotated[list[ItemIn], Field(min_length=1)]


def _shape(value: object) -> str:
    return "batch" if isinstance(value, dict) and "items" in value else "single"


# One calculation or a batch, told apart by an "items" key, so that errors name the fields
# of the shape the client meant.
SubmitIn = Annotated[
    Annotated[CalculationIn, Tag("single")] | Annotated[BatchIn, Tag("batch")],
    Discriminator(_shape),
]


class EquationOut(Schema):
    key: str
    label: str
    description: str
    min_n: int
    max_n: int


class Links(Schema):
    self: str
    page: str
    output: str | None = Field(description="The exact digits as text/plain, once SUCCESS.")


class AttemptOut(Schema):
    started_at: datetime
    duration_seconds: float
    status_code: int | None = Field(description="HTTP status (webhook) or SMTP reply code.")
    error: str
    outcome: Literal["delivered", "retry", "failed"]


class NotificationLinks(Schema):
    resend: str | None = Field(description="POST here to send a failed delivery again.")


class NotificationOut(Schema):
    id: uuid.UUID
    kind: Literal["email", "webhook"]
    target: str
    status: Literal["WAITING", "PENDING", "SENDING", "DELIVERED", "FAILED"] = Field(
        description="WAITING until the calculation (for an email: its whole batch) is final."
    )
    attempts: list[AttemptOut]
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    signing_secret: str | None = Field(
        description="Webhooks: the key of the Calcqueue-Signature HMAC; only in the response "
        "to the submission."
    )
    links: NotificationLinks


class CalculationOut(Schema):
    id: uuid.UUID
    equation: str
    n: int
    status: StatusName
    progress: float | None = Field(description="Fraction done, 0 to 1, while RUNNING.")
    error: str
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_seconds: float | None
    cancel_requested_at: datetime | None
    retry_of: uuid.UUID | None
    output: str | None = Field(
        description="The decimal digits, as a string (never a JSON number: JavaScript loses "
        "precision above 2^53); only the first digits when output_truncated."
    )
    output_digits: int | None
    output_truncated: bool
    notifications: list[NotificationOut]
    links: Links


class BatchOut(Schema):
    items: list[CalculationOut]


class CalculationPageOut(Schema):
    items: list[CalculationOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next (older) page.")


class FieldError(Schema):
    field: str
    message: str


class Problem(Schema):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[FieldError] = []


def notification_out(view: NotificationView, *, with_secret: bool = False) -> dict:
    delivery = view.delivery
    resend = reverse(
        "api:notification_resend",
        kwargs={"calculation_id": view.calculation_id, "notification_id": view.subscription.id},
    )
    return {
        "id": view.subscription.id,
        "kind": view.subscription.kind,
        "target": view.subscription.target,
        "status": view.status,
        "attempts": [
            {
                "started_at": attempt.started_at,
                "duration_seconds": attempt.duration_seconds,
                "status_code": attempt.status_code,
                "error": attempt.error,
                "outcome": attempt.outcome,
            }
            for attempt in view.attempts
        ],
        "next_attempt_at": view.next_attempt_at,
        "delivered_at": delivery.delivered_at if delivery else None,
        "signing_secret": (view.subscription.secret or None) if with_secret else None,
        "links": {"resend": resend if view.can_resend else None},
    }


def calculation_out(
    calculation: Calculation,
    *,
    output: str | None,
    notifications: Sequence[NotificationView] = (),
    with_secrets: bool = False,
) -> dict:
    """The API's view of a calculation; `output` is whatever digits the caller read."""

    api_url = reverse("api:calculation_get", kwargs={"calculation_id": calculation.id})
    success = calculation.status == Calculation.Status.SUCCESS
    duration = (
        (calculation.finished_at - calculation.started_at).total_seconds()
        if calculation.finished_at and calculation.started_at
        else None
    )
    return {
        "id": calculation.id,
        "equation": calculation.equation,
        "n": calculation.n,
        "status": calculation.status,
        "progress": calculation.progress,
        "error": calculation.error,
        "attempts": calculation.attempts,
        "created_at": calculation.created_at,
        "started_at": calculation.started_at,
        "finished_at": calculation.finished_at,
        "duration_seconds": duration,
        "cancel_requested_at": calculation.cancel_requested_at,
        "retry_of": calculation.retry_of_id,
        "output": output if success else None,
        "output_digits": calculation.output_digits,
        "output_truncated": success and len(output or "") < calculation.output_digits,
        "notifications": [
            notification_out(view, with_secret=with_secrets) for view in notifications
        ],
        "links": {
            "self": api_url,
            "page": calculation.get_absolute_url(),
            "output": f"{api_url}/output" if success else None,
        },
    }
