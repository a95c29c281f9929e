from django.contrib import admin
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path

from calculations.api.endpoints import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("account/", include("accounts.urls")),
    path("", include("monitoring.urls")),
    path("", include("calculations.urls")),
    path("", include("notifications.urls")),
    # Browsers ask for it on pages that name no icon (the admin's).
    path("favicon.ico", lambda request: redirect(static("calculations/favicon.svg"))),
]
