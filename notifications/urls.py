from django.urls import path

from notifications import views

app_name = "notifications"

urlpatterns = [
    path(
        "calculations/<uuid:calculation_id>/notifications/<uuid:notification_id>/resend/",
        views.notification_resend,
        name="resend",
    ),
]
