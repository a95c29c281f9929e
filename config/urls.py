from django.contrib import admin
from django.urls import include, path

from calculations.api.endpoints import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("", include("monitoring.urls")),
    path("", include("calculations.urls")),
]
