"""What the API accepts and answers, as Pydantic models: they validate requests and are the
OpenAPI schema."""

import functools
import uuid
from collections.abc import Sequence, Set
from datetime import datetime
from typing import Annotated, Literal

from django.urls import get_script_prefix, reverse
from ninja import Schema
from pydantic import BaseModel, ConfigDict, Discriminator, Field, StrictInt, Tag

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
            "once. Without it, a request made with an API token that has a default callback "
            "gets that one, signed with the secret shown when the token was created.",
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
    max_n: int = Field(description="The caller's bound.")
    max_n_anonymous: int
    max_n_signed_in: int


# The answers are plain Pydantic models rather than ninja Schemas: they are always built from
# dicts, and ninja's root validator (which reads Django model attributes) cost a batch
# answer 25 µs a calculation.
class Links(BaseModel):
    self: str
    page: str
    output: str | None = Field(description="The exact digits as text/plain, once SUCCESS.")


class AttemptOut(BaseModel):
    started_at: datetime
    duration_seconds: float
    status_code: int | None = Field(description="HTTP status (webhook) or SMTP reply code.")
    error: str
    outcome: Literal["delivered", "retry", "failed"]


class NotificationLinks(BaseModel):
    resend: str | None = Field(description="POST here to send a failed delivery again.")


class NotificationOut(BaseModel):
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


class CalculationOut(BaseModel):
    id: uuid.UUID
    equation: str
    n: int
    status: StatusName
    progress: float | None = Field(description="Fraction done, 0 to 1, while RUNNING.")
    seconds_remaining: float | None = Field(
        description="While RUNNING, the seconds still to go if the rest goes as fast as the "
        'fraction done so far (the pages\' "about … s left"); null until there is enough '
        "progress to extrapolate from, and once final."
    )
    error: str
    attempts: int
    worker: str = Field(
        description='The worker process ("<celery node>:<pid>") that holds or last held the '
        "claim; empty until a worker claims the calculation."
    )
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


class BatchOut(BaseModel):
    items: list[CalculationOut]


class CalculationPageOut(BaseModel):
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


_ID_PLACEHOLDER = uuid.UUID(int=0)


@functools.lru_cache(maxsize=16)
def _url_template(name: str, script_prefix: str) -> str:
    # reverse() reads the script prefix itself: it is part of the key so that a prefix of
    # another deployment is never served from the cache.
    path = reverse(name, kwargs={"calculation_id": _ID_PLACEHOLDER})
    return path.replace(str(_ID_PLACEHOLDER), "{}")


def calculation_url(name: str, calculation_id: uuid.UUID) -> str:
    """reverse() for a URL of one calculation, resolving the pattern once: a batch answer of
    a thousand calculations spent more time in reverse() than in the database."""
    return _url_template(name, get_script_prefix()).format(calculation_id)


def notification_out(
    view: NotificationView, *, with_secret: bool = False, known_secrets: Set[str] = frozenset()
) -> dict:
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
        "signing_secret": (
            view.subscription.secret or None
            if with_secret and view.subscription.secret not in known_secrets
            else None
        ),
        "links": {"resend": resend if view.can_resend else None},
    }


def calculation_out(
    calculation: Calculation,
    *,
    output: str | None,
    notifications: Sequence[NotificationView] = (),
    with_secrets: bool = False,
    known_secrets: Set[str] = frozenset(),
) -> dict:
    """The API's view of a calculation; `output` is whatever digits the caller read."""
    api_url = calculation_url("api:calculation_get", calculation.id)
    success = calculation.status == Calculation.Status.SUCCESS
    duration = (
        (calculation.finished_at - calculation.started_at).total_seconds()
        if calculation.finished_at and calculation.started_at
        else None
    )
    remaining = calculation.time_remaining
    return {
        "id": calculation.id,
        "equation": calculation.equation,
        "n": calculation.n,
        "status": calculation.status,
        "progress": calculation.progress,
        "seconds_remaining": remaining.total_seconds() if remaining is not None else None,
        "error": calculation.error,
        "attempts": calculation.attempts,
        "worker": calculation.worker,
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
            notification_out(view, with_secret=with_secrets, known_secrets=known_secrets)
            for view in notifications
        ],
        "links": {
            "self": api_url,
            "page": calculation_url("calculations:detail", calculation.id),
            "output": f"{api_url}/output" if success else None,
        },
    }
