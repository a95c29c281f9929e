import uuid

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from accounts.callers import caller_for_user
from calculations import admission, services
from calculations.models import Calculation


@admin.register(Calculation)
class CalculationAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "equation",
        "n",
        "status",
        "owner",
        "output_digits",
        "created_at",
        "finished_at",
    )
    list_filter = ("status", "equation")
    list_select_related = ("owner",)
    search_fields = ("equation",)
    search_help_text = "An id, an input n, or an equation name."
    date_hierarchy = "created_at"
    show_full_result_count = False
    readonly_fields = (
        "id",
        "equation",
        "n",
        "status",
        "owner",
        "output_preview",
        "error",
        "created_at",
        "started_at",
        "finished_at",
        "worker",
        "attempts",
    )
    fields = readonly_fields
    actions = ("cancel_calculations", "retry_calculations")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # Calculations are submitted through the service, which enqueues them.

    def has_change_permission(self, request: HttpRequest, obj: Calculation | None = None) -> bool:
        return False

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        term = search_term.strip()
        if term.isascii() and term.isdigit():
            return queryset.filter(n=int(term)), False
        try:
            return queryset.filter(pk=uuid.UUID(term)), False
        except ValueError:
            return super().get_search_results(request, queryset, search_term)

    @admin.display(description="Output")
    def output_preview(self, calculation: Calculation) -> str:
        if calculation.status != Calculation.Status.SUCCESS:
            return "–"
        shown = calculation.output_head + (
            f"…{calculation.output_tail}" if calculation.output_is_truncated else ""
        )
        return format_html(
            '<code>{}</code> ({} digits) <a href="{}">download</a>',
            shown,
            calculation.output_digits,
            reverse("calculations:output", kwargs={"calculation_id": calculation.id}),
        )

    @admin.action(description="Cancel the selected calculations")
    def cancel_calculations(self, request: HttpRequest, queryset: QuerySet) -> None:
        ids = list(
            queryset.exclude(status__in=Calculation.FINAL_STATUSES).values_list("pk", flat=True)
        )
        caller = caller_for_user(request.user)
        for calculation_id in ids:
            services.calculation_cancel(caller=caller, calculation_id=calculation_id)
        self.message_user(request, f"Cancel requested for {len(ids)} calculation(s).")

    @admin.action(description="Retry the selected calculations (as new calculations)")
    def retry_calculations(self, request: HttpRequest, queryset: QuerySet) -> None:
        retried = 0
        caller = caller_for_user(request.user)
        for calculation in queryset.filter(
            status__in=[Calculation.Status.ERROR, Calculation.Status.CANCELLED]
        ):
            try:
                services.calculation_retry(caller=caller, calculation_id=calculation.pk)
            except ValidationError as error:
                self.message_user(request, f"{calculation}: {error.messages[0]}", messages.ERROR)
            except admission.SubmissionRefused as error:
                self.message_user(request, f"{calculation}: {error}", messages.ERROR)
                break
            else:
                retried += 1
        self.message_user(request, f"Retried {retried} calculation(s).")
