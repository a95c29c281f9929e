from django.conf import settings
from django.http import HttpRequest


def accounts(request: HttpRequest) -> dict:
    """What the page header needs to offer sign-in and sign-up."""
    return {
        "signup_enabled": settings.CALCQUEUE_SIGNUP_ENABLED,
        "allow_anonymous": settings.CALCQUEUE_ALLOW_ANONYMOUS,
    }
