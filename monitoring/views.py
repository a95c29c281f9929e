import secrets

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.decorators import staff_required
from calculations import selectors as calculation_selectors
from calculations.services import queue_depths
from monitoring import charts, health, metrics, selectors
from monitoring.workers import workers_snapshot

# How often the open dashboard refreshes itself; workers are asked less often (workers.py).
PANELS_POLL_SECONDS = 2
WORKERS_POLL_SECONDS = 5


@require_GET
@never_cache
@staff_required
def dashboard(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    throughput = selectors.calculations_finished_per_minute(now=now)
    backlog = selectors.calculations_backlog()
    context = {
        "now": now,
        "throughput": throughput,
        "bars": charts.throughput_bars(throughput),
        "chart": {"width": charts.WIDTH, "height": charts.HEIGHT},
        "durations": selectors.calculation_durations_by_equation(now=now),
        "backlog": backlog,
        "backpressure": calculation_selectors.backpressure_status(),
        "oldest_pending_age": backlog.oldest_pending_age(now),
        "pending_cap": selectors.PENDING_COUNT_CAP,
        "queues": queue_depths(),
        "running": selectors.calculations_running(),
        "panels_poll": PANELS_POLL_SECONDS,
        "workers_poll": WORKERS_POLL_SECONDS,
    }
    if request.htmx:
        return render(request, "monitoring/_panels.html", context)
    return render(request, "monitoring/dashboard.html", context)


@require_GET
@never_cache
@staff_required
def dashboard_workers(request: HttpRequest) -> HttpResponse:
    context = {"snapshot": workers_snapshot(), "workers_poll": WORKERS_POLL_SECONDS}
    return render(request, "monitoring/_workers.html", context)


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is alive and answers; nothing else is asked."""
    return JsonResponse({"status": "ok"})


@require_GET
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """200 when the database, the broker and at least one worker answer, else 503; the body
    says which part failed."""
    checks = health.readiness_checks()
    ready = all(check.ok for check in checks)
    return JsonResponse(
        {
            "status": "ok" if ready else "fail",
            "checks": {check.name: check.as_json() for check in checks},
        },
        status=200 if ready else 503,
    )


@require_GET
@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    token = settings.CALCQUEUE_METRICS_TOKEN
    if token:
        sent = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if not secrets.compare_digest(sent.encode(), token.encode()):
            response = HttpResponse("a bearer token is required\n", status=401)
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
    body, content_type = metrics.exposition()
    return HttpResponse(body, content_type=content_type)
