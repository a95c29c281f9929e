from django.urls import path

from calculations import views

app_name = "calculations"

urlpatterns = [
    path("", views.calculation_list, name="list"),
    path("calculations/<uuid:calculation_id>/", views.calculation_detail, name="detail"),
    path("calculations/<uuid:calculation_id>/cancel/", views.calculation_cancel, name="cancel"),
    path("calculations/<uuid:calculation_id>/retry/", views.calculation_retry, name="retry"),
    path(
        "calculations/<uuid:calculation_id>/output.txt",
        views.calculation_output,
        name="output",
    ),
]
