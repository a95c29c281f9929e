"""Who may see the operations pages. One place, so that tightening it is one change."""

from functools import wraps

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.urls import reverse


def staff_dashboard(view):
    """Let everyone in while CALCQUEUE_DASHBOARD_PUBLIC is on (the development default);
    otherwise only staff users: others are sent to the admin's login (staff log in there),
    or refused once logged in."""

    @wraps(view)
    def guarded(request: HttpRequest, *args, **kwargs):
        if not settings.CALCQUEUE_DASHBOARD_PUBLIC:
            user = request.user
            if not user.is_authenticated:
                return redirect_to_login(request.get_full_path(), reverse("admin:login"))
            if not user.is_staff:
                raise PermissionDenied("The dashboard is for staff users.")
        return view(request, *args, **kwargs)

    return guarded
