"""Every API error as RFC 9457 problem details: one JSON shape, a human message, the field
at fault."""

import json
from http import HTTPStatus

from django.http import HttpResponse

CONTENT_TYPE = "application/problem+json"


def problem_response(
    status: int,
    detail: str,
    *,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> HttpResponse:
    body = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "errors": errors or [],
    }
    response = HttpResponse(json.dumps(body), status=status, content_type=CONTENT_TYPE)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def field_name(location: tuple) -> str:
    """A Pydantic error location as the client wrote the field: ("body", "payload", "items",
    3, "n") → "items[3].n"."""
    # Ninja prefixes where the value came from and its wrapper; the union of request shapes
    # prefixes the shape's tag.
    skipped = {"body", "payload", "query", "path", "header", "single", "batch"}
    parts = [
        part
        for part in location
        if part not in skipped and not (isinstance(part, str) and part.startswith("function-"))
    ]
    name = ""
    for part in parts:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "body"
