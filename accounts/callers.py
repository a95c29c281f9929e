"""Who is calling: a signed-in user, or an anonymous visitor known by a key in their session.

Every selector and service that reads or changes a calculation takes a Caller and sees only
what that caller owns (staff see everything).
"""

import ipaddress
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest

# The anonymous owner's key lives in the session's data, not in the session id: the data
# survives the key rotation of login (so the calculations can be adopted), and the id,
# which is a credential, is never copied into another table.
SESSION_FIELD = "calcqueue_anonymous_key"
ANONYMOUS_KEY_BYTES = 24
# Addresses of one IPv6 host usually span a whole /64: rate-limit them together.
IPV6_PREFIX = 64


@dataclass(frozen=True)
class Caller:
    user_id: int | None = None
    anonymous_key: str | None = None
    is_staff: bool = False
    address: str = ""

    @property
    def is_signed_in(self) -> bool:
        return self.user_id is not None

    @property
    def owner_key(self) -> str:
        """Names what the caller owns, e.g. to keep their Idempotency-Keys apart."""
        return (
            f"user:{self.user_id}" if self.is_signed_in else f"anonymous:{self.anonymous_key or ''}"
        )

    @property
    def rate_key(self) -> str:
        """Whose submissions count together: the user's, else the client address's."""
        return f"user:{self.user_id}" if self.is_signed_in else f"address:{self.address}"


def caller_for_user(user: AbstractBaseUser, *, address: str = "") -> Caller:
    return Caller(user_id=user.pk, is_staff=user.is_staff and user.is_active, address=address)


def caller_for_request(request: HttpRequest) -> Caller | None:
    """The caller behind a browser request (session); None if nobody is signed in and
    anonymous use is switched off."""
    address = client_address(request)
    if request.user.is_authenticated:
        return caller_for_user(request.user, address=address)
    if not settings.CALCQUEUE_ALLOW_ANONYMOUS:
        return None
    return Caller(anonymous_key=request.session.get(SESSION_FIELD), address=address)


def caller_that_owns(request: HttpRequest, caller: Caller) -> Caller:
    """The caller, with an anonymous key in its session from now on, for a submission: an
    anonymous visitor's first calculation starts their session."""
    if caller.is_signed_in or caller.anonymous_key:
        return caller
    key = secrets.token_urlsafe(ANONYMOUS_KEY_BYTES)
    request.session[SESSION_FIELD] = key
    return Caller(anonymous_key=key, address=caller.address)


def client_address(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or, behind CALCQUEUE_TRUSTED_PROXIES reverse
    proxies, the address the outermost of them saw (X-Forwarded-For, counted from the
    right, since a client can put anything on its left)."""
    address = request.META.get("REMOTE_ADDR", "")
    proxies = settings.CALCQUEUE_TRUSTED_PROXIES
    if proxies:
        forwarded = [
            part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        ]
        forwarded = [part for part in forwarded if part]
        if len(forwarded) >= proxies:
            address = forwarded[-proxies]
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if parsed.version == 6:
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/{IPV6_PREFIX}", strict=False))
    return str(parsed)


def adopt_session_calculations(sender, request: HttpRequest | None, user, **kwargs) -> None:
    """On login: the calculations the visitor made anonymously in this session become the
    user's (receiver of user_logged_in)."""
    from calculations.services import calculations_adopt

    if request is None or not hasattr(request, "session"):
        return
    key = request.session.pop(SESSION_FIELD, None)
    if key:
        calculations_adopt(anonymous_key=key, user_id=user.pk)
