"""Changes to accounts' API tokens."""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from accounts.models import ApiToken
from notifications.targets import webhook_target

# The visible marker of every token (bandit B105 takes it for a password; it is not secret).
TOKEN_MARKER = "cq_"  # nosec B105
# 32 random bytes: guessing is hopeless, so a plain SHA-256 digest (no slow hash) is enough
# to make a leaked table useless.
TOKEN_BYTES = 32
PREFIX_CHARS = len(TOKEN_MARKER) + 8
# last_used_at is a hint for the tokens page, not an audit log: one write a minute at most,
# so that a busy program does not turn every request into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    secret: str  # the whole token, to show once; never stored


def token_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def api_token_create(*, user: AbstractBaseUser, name: str, callback_url: str = "") -> NewToken:
    """A new token; with a `callback_url`, the default webhook of the submissions made with
    it, checked as a submission's callback_url is (raises ValidationError if refused)."""
    callback = webhook_target(url=callback_url) if callback_url else None
    secret = TOKEN_MARKER + secrets.token_urlsafe(TOKEN_BYTES)
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=secret[:PREFIX_CHARS],
        digest=token_digest(secret),
        callback_url=callback.url if callback else "",
        callback_secret=callback.secret if callback else "",
    )
    return NewToken(token=token, secret=secret)


def api_token_revoke(*, user: AbstractBaseUser, token_id: int) -> ApiToken:
    """Revoke one of the user's tokens (at once: the next request with it gets 401).
    Raises ApiToken.DoesNotExist for a token of someone else."""
    token = ApiToken.objects.get(pk=token_id, user=user)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def api_token_authenticate(*, secret: str) -> ApiToken | None:
    """The active token of an active user (its `user` fetched with it), or None for any
    other string."""
    if not secret.startswith(TOKEN_MARKER):
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(digest=token_digest(secret), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token
