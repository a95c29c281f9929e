"""What the API accepts and answers, as Pydantic models: they validate requests and are the
OpenAPI schema."""

import uuid
from datetime import datetime
from typing import Annotated, Literal

from ninja import Schema
from pydantic import ConfigDict, Discriminator, Field, StrictInt, Tag

from calculations.models import Calculation

StatusName = Literal["PENDING", "RUNNING", "SUCCESS", "ERROR", "CANCELLED"]


class Strict(Schema):
    model_config = ConfigDict(extra="forbid")


class CalculationIn(Strict):
    equation: Annotated[str, Field(max_length=64, examples=["fibonacci"])]
    # Strict: "39", 39.0 and true are refused rather than read as 39.
    n: Annotated[StrictInt, Field(ge=0, examples=[39])]


class BatchIn(Strict):
    items: Annotated[list[CalculationIn], Field(min_length=1)]


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


class Links(Schema):
    self: str
    page: str
    output: str | None = Field(description="The exact digits as text/plain, once SUCCESS.")


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


def calculation_out(calculation: Calculation, *, output: str | None) -> dict:
    """The API's view of a calculation; `output` is whatever digits the caller read."""
    from django.urls import reverse

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
        "links": {
            "self": api_url,
            "page": calculation.get_absolute_url(),
            "output": f"{api_url}/output" if success else None,
        },
    }
