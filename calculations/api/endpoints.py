"""The endpoints: each translates HTTP to a call of services.py or selectors.py and back."""

import json
import uuid
from collections import defaultdict
from datetime import datetime
from typing import Annotated

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.urls import reverse
from ninja import Body, Header, NinjaAPI, Query, Status
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as RequestValidationError
from ninja.parser import Parser as JSONParser
from ninja.renderers import JSONRenderer
from ninja.responses import NinjaJSONEncoder
from pydantic import Field

from accounts.api_auth import API_AUTH
from accounts.callers import Caller, caller_that_owns
from accounts.models import ApiToken
from calculations import admission, idempotency, selectors, services
from calculations.api.problems import field_name, problem_response
from calculations.api.schemas import (
    BatchOut,
    CalculationIn,
    CalculationOut,
    CalculationPageOut,
    EquationOut,
    NotificationOut,
    Problem,
    StatusName,
    SubmitIn,
    calculation_out,
    notification_out,
)
from calculations.models import Calculation
from calculations.validation import max_n_for
from equations import registry
from notifications import selectors as notification_selectors
from notifications import services as notification_services
from notifications import targets as notification_targets
from notifications.models import Delivery, SubscriptionCalculation


class _Encoder(NinjaJSONEncoder):
    """Timestamps to the microsecond, as stored (Django's encoder cuts them to milliseconds)."""

    def default(self, o):
        if isinstance(o, datetime):
            return o.isoformat().replace("+00:00", "Z")
        return super().default(o)


class _Renderer(JSONRenderer):
    encoder_class = _Encoder


class UnreadableBodyError(Exception):
    """The body cannot be read as JSON: answered 400 naming the field "body"."""


class _Parser(JSONParser):
    def parse_body(self, request: HttpRequest):
        try:
            return super().parse_body(request)
        except json.JSONDecodeError as error:
            raise UnreadableBodyError(f"The body is not valid JSON: {error}.") from error
        except UnicodeDecodeError:
            raise UnreadableBodyError("The body is not valid JSON: it is not UTF-8.") from None
        except ValueError:
            # Python refuses to convert an integer of more than 4,300 digits (a guard against
            # quadratic-time parsing): no bound of n comes near it.
            raise UnreadableBodyError(
                "The body cannot be read: it holds a number of more than 4,300 digits."
            ) from None
        except RecursionError:
            raise UnreadableBodyError("The body cannot be read: it nests too deeply.") from None


class _API(NinjaAPI):
    def get_openapi_schema(self, *args, **kwargs):
        """Document errors as what they are (application/problem+json), and that a token or
        a session is optional while anonymous use is on."""
        schema = super().get_openapi_schema(*args, **kwargs)
        for operations in schema["paths"].values():
            for operation in operations.values():
                if "security" in operation and settings.CALCQUEUE_ALLOW_ANONYMOUS:
                    operation["security"].append({})
                for status, response in operation.get("responses", {}).items():
                    if int(status) >= 400 and "application/json" in response.get("content", {}):
                        response["content"] = {
                            "application/problem+json": response["content"]["application/json"]
                        }
        return schema


api = _API(
    renderer=_Renderer(),
    parser=_Parser(),
    auth=API_AUTH,
    title="calcqueue",
    version="1",
    description="Long calculations computed in the background. Send a personal API token as "
    "`Authorization: Bearer cq_…` (create one at /account/tokens/); the browser's session works "
    "too, with the CSRF token on writes. Each caller sees only their own calculations. Errors "
    "are RFC 9457 problem details (application/problem+json).",
    urls_namespace="api",
)
PAGE_SIZE_MAX = 100
WAIT_SECONDS_MAX = 30
ERRORS = {
    400: Problem,
    401: Problem,
    403: Problem,
    404: Problem,
    409: Problem,
    413: Problem,
    415: Problem,
    422: Problem,
}
# Submissions may also be refused for their cost: the caller's rate limit, or a full queue.
SUBMIT_ERRORS = {**ERRORS, 429: Problem, 503: Problem}


# --- Errors ----------------------------------------------------------------------------------

_WHOLE_LIST_CODES = {"empty", "too_many"}


@api.exception_handler(RequestValidationError)
def _invalid_request(request: HttpRequest, error: RequestValidationError) -> HttpResponse:
    errors = [{"field": field_name(e["loc"]), "message": e["msg"]} for e in error.errors]
    return problem_response(422, "The request is not valid: see errors.", errors=errors)


@api.exception_handler(ValidationError)
def _refused_input(request: HttpRequest, error: ValidationError) -> HttpResponse:
    if not hasattr(error, "error_dict"):
        detail = " ".join(error.messages)
        status = 413 if error.code == "too_many" else 422
        # These two are about the list as a whole (validation.validate_items: none, or more
        # than CALCQUEUE_API_MAX_BATCH). Others, like a retry's n now out of bounds, are about
        # no field of the request.
        if error.code in _WHOLE_LIST_CODES:
            return problem_response(status, detail, errors=[{"field": "items", "message": detail}])
        return problem_response(status, detail)
    errors = [
        {"field": field, "message": message}
        for field, messages in error.message_dict.items()
        for message in messages
    ]
    return problem_response(422, "Some calculations cannot be accepted: see errors.", errors=errors)


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, error: HttpError) -> HttpResponse:
    # Ninja wraps whatever the parser raised in an HttpError(400) of its own, chained.
    if isinstance(error.__cause__, UnreadableBodyError):
        detail = str(error.__cause__)
        return problem_response(400, detail, errors=[{"field": "body", "message": detail}])
    return problem_response(error.status_code, error.message)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, error: AuthenticationError) -> HttpResponse:
    detail = error.message if error.message != "Unauthorized" else "Sign in, or send an API token."
    return problem_response(401, detail, headers={"WWW-Authenticate": 'Bearer realm="calcqueue"'})


@api.exception_handler(admission.SubmissionRefused)
def _refused(request: HttpRequest, error: admission.SubmissionRefused) -> HttpResponse:
    return problem_response(
        error.status, str(error), headers={"Retry-After": str(error.retry_after)}
    )


@api.exception_handler(Http404)
@api.exception_handler(Calculation.DoesNotExist)
def _not_found(request: HttpRequest, error: Exception) -> HttpResponse:
    return problem_response(404, "No calculation with this id.")


@api.exception_handler(Delivery.DoesNotExist)
@api.exception_handler(SubscriptionCalculation.DoesNotExist)
def _no_notification(request: HttpRequest, error: Exception) -> HttpResponse:
    return problem_response(404, "This calculation has no such notification, or it is not due.")


@api.exception_handler(services.CalculationStateError)
@api.exception_handler(notification_services.DeliveryStateError)
def _wrong_state(request: HttpRequest, error: Exception) -> HttpResponse:
    return problem_response(409, str(error))


@api.exception_handler(idempotency.IdempotencyKeyReused)
def _key_reused(request: HttpRequest, error: idempotency.IdempotencyKeyReused) -> HttpResponse:
    return problem_response(
        422,
        "This Idempotency-Key was first used for a different request; use a new key.",
        errors=[{"field": "Idempotency-Key", "message": "already used for another request"}],
    )


# --- Endpoints -------------------------------------------------------------------------------


def _caller(request: HttpRequest) -> Caller:
    return request.auth


def _api_token(request: HttpRequest) -> ApiToken | None:
    """The API token the request was made with (accounts.api_auth.TokenAuth), if any."""
    return getattr(request, "api_token", None)


@api.get("/equations", response={200: list[EquationOut], **ERRORS}, tags=["equations"])
def equation_list(request: HttpRequest):
    """The equations calcqueue computes, with the inputs each accepts: `max_n` is the
    caller's bound (anonymous callers have lower ones)."""
    signed_in = _caller(request).is_signed_in
    return [
        {
            "key": equation.key,
            "label": equation.label,
            "description": equation.description,
            "min_n": equation.min_n,
            "max_n": max_n_for(equation, signed_in=signed_in),
            "max_n_anonymous": max_n_for(equation, signed_in=False),
            "max_n_signed_in": max_n_for(equation, signed_in=True),
        }
        for equation in registry.all_equations()
    ]


@api.post(
    "/calculations",
    response={202: CalculationOut | BatchOut, **SUBMIT_ERRORS},
    tags=["calculations"],
    url_name="calculation_submit",
)
def calculation_submit(
    request: HttpRequest,
    payload: Annotated[SubmitIn, Body()],
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)] = None,
):
    """Submit one calculation (`{"equation": "fibonacci", "n": 39}`) or several
    (`{"items": [...]}`, up to CALCQUEUE_API_MAX_BATCH): 202 with the PENDING calculations.
    All or nothing. With an Idempotency-Key, a retry of the same request returns the first
    response and creates nothing. `notify_email` and `callback_url` ask to be told when the
    calculations are final (one email for the whole submission; one webhook event each).
    429 over the caller's rate limit, 503 while the queue is full, both with Retry-After."""
    caller = caller_that_owns(request, _caller(request))
    # Checked before the transaction of an Idempotency-Key: a callback's host is resolved
    # (DNS), which must not happen while holding the database's write lock.
    api_token = _api_token(request)
    targets = notification_targets.targets_from_request(
        notify_email=payload.notify_email,
        callback_url=payload.callback_url,
        user=request.user,
        api_token=api_token,
    )
    # The token's signing secret was shown when the token was created, and only then.
    known_secrets = {api_token.callback_secret} if api_token else set()

    def produce() -> idempotency.StoredResponse:
        if isinstance(payload, CalculationIn):
            try:
                (created,) = services.calculations_submit_items(
                    caller=caller, items=[(payload.equation, payload.n)], notify=targets
                )
            except ValidationError as error:
                raise _single_item_fields(error) from None
            body = CalculationOut.model_validate(
                _submitted_out([created], targets, known_secrets)[0]
            )
            location = reverse("api:calculation_get", kwargs={"calculation_id": created.id})
            return idempotency.StoredResponse(202, body.model_dump_json(), location)
        created = services.calculations_submit_items(
            caller=caller,
            items=[(item.equation, item.n) for item in payload.items],
            notify=targets,
        )
        body = BatchOut.model_validate({"items": _submitted_out(created, targets, known_secrets)})
        return idempotency.StoredResponse(202, body.model_dump_json())

    return _respond_once(request, caller, idempotency_key, payload.model_dump_json(), produce)


def _submitted_out(
    created: list[Calculation], targets: list[notification_targets.Target], known_secrets: set[str]
) -> list[dict]:
    """The new calculations, with their notifications' new signing secrets: shown this once
    (a secret the caller was given before, with their API token, is not shown again)."""
    # New calculations have no notifications but the ones asked for now: no query without.
    notifications = _notifications(created) if targets else defaultdict(list)
    return [
        calculation_out(
            calculation,
            output=None,
            notifications=notifications[calculation.id],
            with_secrets=True,
            known_secrets=known_secrets,
        )
        for calculation in created
    ]


def _notifications(calculations: list[Calculation]) -> dict:
    return notification_selectors.notifications_for(
        calculation_ids=[calculation.id for calculation in calculations]
    )


def _respond_once(
    request, caller: Caller, key: str | None, canonical_body: str, produce
) -> HttpResponse:
    """Produce the response, or with an Idempotency-Key replay the one first produced for
    this caller (keys of different callers never meet)."""
    if key is None:
        stored = produce()
    else:
        stored = idempotency.idempotent_response(
            scope=caller.owner_key,
            key=key,
            fingerprint=idempotency.request_fingerprint(
                method=request.method, path=request.path, canonical_body=canonical_body
            ),
            produce=produce,
        )
    response = HttpResponse(stored.body, status=stored.status, content_type="application/json")
    if stored.location:
        response["Location"] = stored.location
    return response


def _single_item_fields(error: ValidationError) -> ValidationError:
    """Name the fields of a single submission as it was sent ("n", not "items[0].n")."""
    if not hasattr(error, "error_dict"):
        return error
    return ValidationError(
        {
            field.removeprefix("items[0]."): messages
            for field, messages in error.message_dict.items()
        }
    )


@api.get(
    "/calculations",
    response={200: CalculationPageOut, **ERRORS},
    tags=["calculations"],
    url_name="calculation_list",
)
def calculation_list(
    request: HttpRequest,
    status: StatusName | None = None,
    equation: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Field(ge=1, le=PAGE_SIZE_MAX)] = 25,
):
    """Calculations, newest first, `limit` per page; follow `next_cursor` for older ones.
    The output of each is inline up to 60 digits, else its first 24."""
    if equation is not None:
        try:
            registry.get(equation)
        except registry.UnknownEquationError as error:
            raise HttpError(422, str(error)) from None
    try:
        page = selectors.calculation_page(
            caller=_caller(request), after=cursor, size=limit, status=status, equation=equation
        )
    except selectors.InvalidCursorError:
        raise HttpError(400, "The cursor is not one this API gave out.") from None
    notifications = _notifications(page.calculations)
    return {
        "items": [
            calculation_out(c, output=c.output_head, notifications=notifications[c.id])
            for c in page.calculations
        ],
        "next_cursor": page.next_cursor,
    }


@api.get(
    "/calculations/{calculation_id}",
    response={200: CalculationOut, **ERRORS},
    tags=["calculations"],
    url_name="calculation_get",
)
def calculation_get(
    request: HttpRequest,
    calculation_id: uuid.UUID,
    wait: Annotated[float, Field(ge=0, le=WAIT_SECONDS_MAX)] = 0,
):
    """Every field of a calculation. The output is inline up to CALCQUEUE_API_OUTPUT_DIGITS
    (10,000) digits, else its first digits with output_truncated and a link to all of them.
    `?wait=N` (N ≤ 30 s) answers as soon as the calculation is final, or after N seconds."""
    caller = _caller(request)
    calculation = selectors.calculation_wait(
        caller=caller, calculation_id=calculation_id, timeout=wait
    )
    output = None
    if calculation.status == Calculation.Status.SUCCESS:
        output = selectors.calculation_output_head(
            caller=caller,
            calculation_id=calculation.id,
            length=min(calculation.output_digits, settings.CALCQUEUE_API_OUTPUT_DIGITS),
        )
    return calculation_out(
        calculation, output=output, notifications=_notifications([calculation])[calculation.id]
    )


@api.get(
    "/calculations/{calculation_id}/output",
    response={200: str, **ERRORS},
    tags=["calculations"],
    openapi_extra={"responses": {200: {"content": {"text/plain": {"schema": {"type": "string"}}}}}},
)
def calculation_output(request: HttpRequest, calculation_id: uuid.UUID):
    """The exact decimal digits, as text/plain, streamed: any size."""
    caller = _caller(request)
    calculation = selectors.calculation_get(caller=caller, calculation_id=calculation_id)
    if calculation.status != Calculation.Status.SUCCESS:
        raise HttpError(409, f"This calculation has no output: it is {calculation.status}.")
    response = StreamingHttpResponse(
        selectors.calculation_output_chunks(
            caller=caller, calculation_id=calculation.id, length=calculation.output_digits
        ),
        content_type="text/plain; charset=us-ascii",
    )
    response["Content-Length"] = str(calculation.output_digits)
    return response


@api.post(
    "/calculations/{calculation_id}/cancel",
    response={200: CalculationOut, **ERRORS},
    tags=["calculations"],
)
def calculation_cancel(request: HttpRequest, calculation_id: uuid.UUID):
    """Cancel: a PENDING calculation at once, a RUNNING one within about a second (its
    status turns CANCELLED then). 409 if it had already finished otherwise."""
    calculation = services.calculation_cancel(
        caller=_caller(request), calculation_id=calculation_id
    )
    if calculation.is_final and calculation.status != Calculation.Status.CANCELLED:
        raise HttpError(409, f"This calculation already finished: {calculation.status}.")
    return calculation_out(
        calculation, output=None, notifications=_notifications([calculation])[calculation.id]
    )


@api.post(
    "/calculations/{calculation_id}/retry",
    response={202: CalculationOut, **SUBMIT_ERRORS},
    tags=["calculations"],
)
def calculation_retry(
    request: HttpRequest,
    calculation_id: uuid.UUID,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)] = None,
):
    """Submit an ERROR or CANCELLED calculation again, as a new calculation linked to it by
    retry_of. 409 for any other status. With an Idempotency-Key, one retry however often
    the request is sent."""
    caller = _caller(request)

    def produce() -> idempotency.StoredResponse:
        retry = services.calculation_retry(caller=caller, calculation_id=calculation_id)
        body = CalculationOut.model_validate(calculation_out(retry, output=None))
        location = reverse("api:calculation_get", kwargs={"calculation_id": retry.id})
        return idempotency.StoredResponse(202, body.model_dump_json(), location)

    return _respond_once(request, caller, idempotency_key, "", produce)


@api.delete("/calculations/{calculation_id}", response={204: None, **ERRORS}, tags=["calculations"])
def calculation_delete(request: HttpRequest, calculation_id: uuid.UUID):
    """Delete a calculation and its output; a RUNNING one stops at its next progress check."""
    services.calculation_delete(caller=_caller(request), calculation_id=calculation_id)
    return Status(204, None)


@api.post(
    "/calculations/{calculation_id}/notifications/{notification_id}/resend",
    response={202: NotificationOut, **ERRORS},
    tags=["calculations"],
    url_name="notification_resend",
)
def notification_resend(
    request: HttpRequest, calculation_id: uuid.UUID, notification_id: uuid.UUID
):
    """Send a FAILED notification again (its webhook event, or the email of its batch),
    with a new round of attempts. 409 for any other status."""
    caller = _caller(request)
    notification_services.notification_resend(
        caller=caller, calculation_id=calculation_id, subscription_id=notification_id
    )
    calculation = selectors.calculation_get(caller=caller, calculation_id=calculation_id)
    (view,) = [
        view
        for view in _notifications([calculation])[calculation_id]
        if view.subscription.id == notification_id
    ]
    return Status(202, notification_out(view))
