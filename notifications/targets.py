"""What a submission asks to be notified by, checked before anything is created."""

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

from notifications import destinations, signing

MAX_EMAIL_LENGTH = 254
_EMAIL = EmailValidator()


@dataclass(frozen=True)
class EmailTarget:
    address: str


@dataclass(frozen=True)
class WebhookTarget:
    url: str
    secret: str


Target = EmailTarget | WebhookTarget


def email_target(*, address: str, user=None) -> EmailTarget:
    """An email to `address`: a signed-in user's own address, or any address where
    CALCQUEUE_NOTIFY_ANY_EMAIL allows it. Raises ValidationError."""
    address = address.strip()
    if len(address) > MAX_EMAIL_LENGTH:
        raise ValidationError(f"Use at most {MAX_EMAIL_LENGTH} characters.", code="invalid")
    _EMAIL(address)
    own = bool(
        user is not None
        and user.is_authenticated
        and user.email
        and user.email.lower() == address.lower()
    )
    if not own and not settings.CALCQUEUE_NOTIFY_ANY_EMAIL:
        raise ValidationError(
            "Email goes only to the address of your account here: sign in.", code="not_allowed"
        )
    return EmailTarget(address=address)


def webhook_target(*, url: str, secret: str | None = None) -> WebhookTarget:
    """A webhook to `url`, signed with `secret` (a new one by default; an API token's
    default callback brings its own). Raises ValidationError, with the reason of a refusal."""
    try:
        destinations.destination_check(
            url=url,
            allowed_hosts=settings.CALCQUEUE_WEBHOOK_ALLOWED_HOSTS,
            dns_timeout=settings.CALCQUEUE_WEBHOOK_DNS_TIMEOUT_SECONDS,
        )
    except destinations.RefusedURL as error:
        message = str(error)
        raise ValidationError(message[:1].upper() + message[1:], code="refused") from None
    return WebhookTarget(url=url, secret=secret or signing.secret_new())


def targets_from_request(
    *,
    notify_email: str | None = None,
    callback_url: str | None = None,
    user=None,
    api_token=None,
) -> list[Target]:
    """The targets a request names, or ValidationError naming the fields at fault. Without
    a callback_url of its own, a request made with an API token that has a default callback
    gets that one, signed with the token's secret."""
    targets: list[Target] = []
    errors: dict[str, list[str]] = {}
    if notify_email is not None:
        try:
            targets.append(email_target(address=notify_email, user=user))
        except ValidationError as error:
            errors["notify_email"] = error.messages
    if callback_url is not None:
        try:
            targets.append(webhook_target(url=callback_url))
        except ValidationError as error:
            errors["callback_url"] = error.messages
    elif api_token is not None and api_token.callback_url:
        # Checked again now, as every attempt will be: DNS may have changed since the token
        # was created.
        try:
            targets.append(
                webhook_target(url=api_token.callback_url, secret=api_token.callback_secret)
            )
        except ValidationError as error:
            errors["callback_url"] = [
                f"The default callback of your API token: {message}" for message in error.messages
            ]
    if errors:
        raise ValidationError(errors)
    return targets
