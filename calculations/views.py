import uuid

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.callers import caller_that_owns
from accounts.decorators import caller_required
from calculations import admission, selectors, services
from calculations.forms import CalculationForm
from calculations.models import Calculation
from notifications import selectors as notification_selectors

# Outputs up to this many digits are shown whole on the detail page.
DETAIL_FULL_DIGITS = 2000
DETAIL_EDGE_DIGITS = 200


def _refusal(response: HttpResponse, refused: admission.SubmissionRefused) -> HttpResponse:
    response.status_code = refused.status
    response["Retry-After"] = str(refused.retry_after)
    return response


@require_http_methods(["GET", "POST"])
@caller_required
def calculation_list(request: HttpRequest) -> HttpResponse:
    caller = request.caller
    form = CalculationForm(request.POST or None, signed_in=caller.is_signed_in, user=request.user)
    refused = None
    if request.method == "POST" and form.is_valid():
        notify = form.cleaned_data["notify"]
        try:
            created = services.calculations_submit(
                caller=caller_that_owns(request, caller),
                equation=form.cleaned_data["equation"],
                inputs=form.cleaned_data["inputs"],
                notify=notify,
            )
        except admission.SubmissionRefused as error:
            refused = error
        else:
            emailed = "".join(f"; an email to {target.address} when done" for target in notify)
            messages.success(request, f"Queued {len(created)} calculation(s){emailed}.")
            return redirect("calculations:list")
    try:
        page = selectors.calculation_page(
            caller=caller, after=request.GET.get("after"), size=settings.CALCQUEUE_PAGE_SIZE
        )
    except selectors.InvalidCursorError:
        return redirect("calculations:list")
    context = {"form": form, "page": page, "refused": refused}
    if request.htmx:
        return render(request, "calculations/_calculation_table.html", context)
    response = render(
        request, "calculations/calculation_list.html", context, status=400 if form.errors else 200
    )
    return _refusal(response, refused) if refused else response


def _get_or_404(request: HttpRequest, calculation_id: uuid.UUID) -> Calculation:
    try:
        return selectors.calculation_get(caller=request.caller, calculation_id=calculation_id)
    except Calculation.DoesNotExist:
        raise Http404("No calculation with this id.") from None


@require_GET
@caller_required
def calculation_detail(request: HttpRequest, calculation_id: uuid.UUID) -> HttpResponse:
    return _detail(request, _get_or_404(request, calculation_id))


def _detail(request: HttpRequest, calculation: Calculation) -> HttpResponse:
    notifications = notification_selectors.notifications_for(calculation_ids=[calculation.id])[
        calculation.id
    ]
    context: dict = {
        "calculation": calculation,
        "notifications": notifications,
        # The page keeps polling while a notification may still change.
        "live": not calculation.is_final or any(view.is_active for view in notifications),
    }
    if calculation.status == Calculation.Status.SUCCESS:
        edge = (
            calculation.output_digits
            if calculation.output_digits <= DETAIL_FULL_DIGITS
            else DETAIL_EDGE_DIGITS
        )
        head, tail = selectors.calculation_output_excerpt(
            caller=request.caller,
            calculation_id=calculation.id,
            length=calculation.output_digits,
            edge_chars=edge,
        )
        context |= {
            "output_head": head,
            "output_tail": tail,
            "output_shown_whole": edge == calculation.output_digits,
        }
    template = (
        "calculations/_calculation_detail.html"
        if request.htmx
        else ("calculations/calculation_detail.html")
    )
    return render(request, template, context)


@require_GET
@caller_required
def calculation_output(request: HttpRequest, calculation_id: uuid.UUID) -> StreamingHttpResponse:
    calculation = _get_or_404(request, calculation_id)
    if calculation.status != Calculation.Status.SUCCESS:
        raise Http404("This calculation has no output yet.")
    response = StreamingHttpResponse(
        selectors.calculation_output_chunks(
            caller=request.caller, calculation_id=calculation.id, length=calculation.output_digits
        ),
        content_type="text/plain; charset=us-ascii",
    )
    response["Content-Length"] = str(calculation.output_digits)
    response["Content-Disposition"] = (
        f'inline; filename="{calculation.equation}-{calculation.n}.txt"'
    )
    return response


def _back(request: HttpRequest, default: str) -> HttpResponse:
    """Return to the page the button was on (a local URL only)."""
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = default
    return redirect(target)


@require_POST
@caller_required
def calculation_cancel(request: HttpRequest, calculation_id: uuid.UUID) -> HttpResponse:
    try:
        calculation = services.calculation_cancel(
            caller=request.caller, calculation_id=calculation_id
        )
    except Calculation.DoesNotExist:
        raise Http404("No calculation with this id.") from None
    if calculation.is_final and calculation.status != Calculation.Status.CANCELLED:
        messages.info(request, f"Already finished: {calculation.get_status_display()}.")
    else:
        messages.success(request, f"Cancelling {calculation.equation}({calculation.n}).")
    return _back(request, calculation.get_absolute_url())


@require_POST
@caller_required
def calculation_retry(request: HttpRequest, calculation_id: uuid.UUID) -> HttpResponse:
    try:
        retry = services.calculation_retry(caller=request.caller, calculation_id=calculation_id)
    except Calculation.DoesNotExist:
        raise Http404("No calculation with this id.") from None
    except admission.SubmissionRefused as error:
        messages.error(request, str(error))
        response = _detail(request, _get_or_404(request, calculation_id))
        return _refusal(response, error)
    except (services.CalculationStateError, ValidationError) as error:
        messages.error(request, " ".join(getattr(error, "messages", [str(error)])))
        return redirect("calculations:detail", calculation_id=calculation_id)
    messages.success(request, f"Retrying {retry.equation}({retry.n}) as a new calculation.")
    return redirect(retry)
