"""Access rules for views: who may open a page."""

from collections.abc import Callable
from functools import wraps

from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.mixins import UserPassesTestMixin
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse

from accounts.callers import caller_for_request


def caller_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Set request.caller, or send the visitor to the login page when anonymous use is off."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        caller = caller_for_request(request)
        if caller is None:
            return redirect_to_login(request.get_full_path())
        request.caller = caller
        return view(request, *args, **kwargs)

    return wrapped


# Staff only (active staff members; anyone else goes to the admin's login page), for the admin
# and the operations dashboard.
staff_required = staff_member_required


class StaffRequiredMixin(UserPassesTestMixin):
    """Class-based views: active staff members only."""

    def test_func(self) -> bool:
        user = self.request.user
        return user.is_active and user.is_staff
