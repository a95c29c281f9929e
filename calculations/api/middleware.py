from django.conf import settings
from django.http import HttpRequest, HttpResponse

from calculations.api.problems import CONTENT_TYPE, problem_response

_JSON_TYPES = {"application/json", CONTENT_TYPE}


class ProblemDetailsMiddleware:
    """Under /api/: refuse bodies that are not JSON (415) or too large (413) before any view
    reads them, and turn Django's own error pages (404 of an unknown path, 405, 500) into
    problem details, so that API clients only ever get JSON."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith("/api/"):
            return self.get_response(request)
        refusal = self._refuse_body(request)
        if refusal is not None:
            return refusal
        response = self.get_response(request)
        if response.status_code >= 400 and not _is_json(response):
            allowed = response.get("Allow")
            return problem_response(
                response.status_code,
                _generic_detail(request, response.status_code, allowed),
                headers={"Allow": allowed} if allowed else None,
            )
        return response

    @staticmethod
    def _refuse_body(request: HttpRequest) -> HttpResponse | None:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
        if request.method not in {"POST", "PUT", "PATCH"} or length == 0:
            return None
        if length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            return _body_problem(
                413,
                f"The body is {length:,} bytes; at most "
                f"{settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} are accepted.",
            )
        if request.content_type not in _JSON_TYPES:
            return _body_problem(
                415, f"Send JSON with Content-Type: application/json, not {request.content_type!r}."
            )
        return None


def _body_problem(status: int, detail: str) -> HttpResponse:
    # The whole body is at fault: named "body", as problems.field_name names the root.
    return problem_response(status, detail, errors=[{"field": "body", "message": detail}])


def _is_json(response: HttpResponse) -> bool:
    return response.get("Content-Type", "").split(";")[0].strip() in _JSON_TYPES


def _generic_detail(request: HttpRequest, status: int, allowed: str | None) -> str:
    if status == 404:
        return f"Nothing at {request.path}; the API is described at /api/docs."
    if status == 405:
        return f"{request.method} is not allowed here; allowed: {allowed}."
    return "The server could not answer this request."
