import uuid

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from accounts.decorators import caller_required
from calculations.models import Calculation
from notifications import services
from notifications.models import Delivery, SubscriptionCalculation


@require_POST
@caller_required
def notification_resend(
    request: HttpRequest, calculation_id: uuid.UUID, notification_id: uuid.UUID
) -> HttpResponse:
    try:
        delivery = services.notification_resend(
            caller=request.caller, calculation_id=calculation_id, subscription_id=notification_id
        )
    except (Calculation.DoesNotExist, SubscriptionCalculation.DoesNotExist, Delivery.DoesNotExist):
        raise Http404("This calculation has no such notification.") from None
    except services.DeliveryStateError as error:
        messages.error(request, str(error).capitalize() + ".")
    else:
        messages.success(request, f"Sending the {delivery.subscription.kind} again.")
    return redirect("calculations:detail", calculation_id=calculation_id)
