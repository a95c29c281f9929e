from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from notifications import services
from notifications.models import Delivery, DeliveryAttempt, Subscription


class _ReadOnly(admin.ModelAdmin):
    """Notifications are written by the services only; the admin reads and sends again."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    fields = ("started_at", "duration_seconds", "status_code", "outcome", "error")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Subscription)
class SubscriptionAdmin(_ReadOnly):
    list_display = ("id", "kind", "target", "created_at", "completed_at")
    list_filter = ("kind",)
    search_fields = ("target",)
    fields = ("id", "kind", "target", "created_at", "completed_at")
    readonly_fields = fields


@admin.register(Delivery)
class DeliveryAdmin(_ReadOnly):
    list_display = ("id", "subscription", "calculation", "status", "attempts", "created_at")
    list_filter = ("status", "subscription__kind")
    search_fields = ("subscription__target",)
    fields = (
        "id",
        "subscription",
        "calculation",
        "status",
        "attempts",
        "resends",
        "next_attempt_at",
        "delivered_at",
        "last_error",
        "payload",
    )
    readonly_fields = fields
    inlines = (DeliveryAttemptInline,)
    actions = ("resend_deliveries",)

    @admin.action(description="Send the selected failed deliveries again")
    def resend_deliveries(self, request: HttpRequest, queryset: QuerySet) -> None:
        resent = 0
        for delivery_id in queryset.values_list("pk", flat=True):
            try:
                services.delivery_resend(delivery_id=delivery_id)
            except services.DeliveryStateError as error:
                self.message_user(request, f"{delivery_id}: {error}", messages.WARNING)
            else:
                resent += 1
        self.message_user(request, f"Sending {resent} delivery(ies) again.")
