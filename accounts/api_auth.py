"""How the JSON API knows its caller: a personal API token (Authorization: Bearer), else the
browser's session cookie (with CSRF checked on writes), else, when anonymous use is on, a new
anonymous visitor."""

from django.conf import settings
from django.http import HttpRequest
from ninja.errors import AuthenticationError, HttpError
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf

from accounts.callers import Caller, caller_for_request, caller_for_user, client_address
from accounts.services import api_token_authenticate


class TokenAuth(HttpBearer):
    """`Authorization: Bearer cq_…`. A header that is there but wrong is refused (401): it
    never falls back to the session or to anonymous use."""

    def __call__(self, request: HttpRequest) -> Caller | None:
        header = request.headers.get(self.header)
        if header is None:
            return None
        scheme, _, secret = header.strip().partition(" ")
        if scheme.lower() != self.openapi_scheme or not secret.strip():
            raise AuthenticationError(
                message="Send the API token as Authorization: Bearer <token>."
            )
        return self.authenticate(request, secret.strip())

    def authenticate(self, request: HttpRequest, token: str) -> Caller:
        api_token = api_token_authenticate(secret=token)
        if api_token is None:
            raise AuthenticationError(message="This API token is unknown or revoked.")
        # As for a session: code that needs the account (its email address) finds it here,
        # and a submission finds the token's default callback.
        request.user = api_token.user
        request.api_token = api_token
        return caller_for_user(api_token.user, address=client_address(request))


class SessionAuth(APIKeyCookie):
    """The browser's session cookie, as on the pages. A write (POST, DELETE) that carries the
    cookie must carry the CSRF token too (X-CSRFToken header), as a form would."""

    def __init__(self) -> None:
        self.param_name = settings.SESSION_COOKIE_NAME
        super().__init__(csrf=True)

    def _get_key(self, request: HttpRequest) -> str | None:
        key = request.COOKIES.get(self.param_name)
        # Only a request that carries the cookie can be forged with it: a request without
        # one is a new anonymous visitor, who has nothing to lose.
        if key and check_csrf(request) is not None:
            raise HttpError(
                403, "CSRF check failed: send the csrftoken cookie's value as X-CSRFToken."
            )
        return key

    def authenticate(self, request: HttpRequest, key: str | None) -> Caller | None:
        if key is None:
            return None
        caller = caller_for_request(request)
        if caller is None:
            raise AuthenticationError(message="Sign in, or send an API token.")
        return caller


def anonymous_auth(request: HttpRequest) -> Caller:
    """No token and no session cookie: a new anonymous visitor, when anonymous use is on."""
    caller = caller_for_request(request)
    if caller is None:
        raise AuthenticationError(message="Sign in, or send an API token.")
    return caller


API_AUTH = [TokenAuth(), SessionAuth(), anonymous_auth]
