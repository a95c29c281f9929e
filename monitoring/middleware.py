import logging
import time

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from monitoring import metrics

logger = logging.getLogger("calcqueue.request")
# The label for paths no URL pattern matched: raw paths would make a label per scanner probe.
UNMATCHED_ROUTE = "<unmatched>"
STATIC_ROUTE = "<static>"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestMetricsMiddleware:
    """One log line and the HTTP metrics for every request. Outermost, so that the time
    includes every other middleware."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        seconds = time.perf_counter() - started
        route = _route(request)
        metrics.http_request_answered(
            method=request.method if request.method in _METHODS else "other",
            route=route,
            status=response.status_code,
            seconds=seconds,
        )
        logger.info(
            "request method=%s path=%s status=%d duration=%.1fms",
            request.method,
            request.path,
            response.status_code,
            seconds * 1000,
            extra={
                "method": request.method,
                "path": request.path,
                "route": route,
                "status": response.status_code,
                "duration_ms": round(seconds * 1000, 3),
            },
        )
        return response


def _route(request: HttpRequest) -> str:
    """The URL pattern that served the request, never the raw path (whose ids and probes
    would make a label each)."""
    if request.resolver_match is not None:
        return "/" + request.resolver_match.route
    if request.path.startswith("/" + settings.STATIC_URL.lstrip("/")):
        return STATIC_ROUTE  # answered by WhiteNoise before URL resolution
    return UNMATCHED_ROUTE
