"""One attempt at a delivery, by webhook or by email: never raises, says what happened."""

import asyncio
import functools
import smtplib
import ssl
import time
from dataclasses import dataclass

import httpx
from django.conf import settings
from django.core.mail import EmailMessage

from notifications import destinations
from notifications.signing import SIGNATURE_HEADER, signature_header

USER_AGENT = "calcqueue-webhooks/1"
# Of a refusing answer, this much of the body is kept in the attempt log.
ERROR_BODY_BYTES = 300


@dataclass(frozen=True)
class AttemptResult:
    delivered: bool
    retryable: bool = False
    status_code: int | None = None
    error: str = ""
    retry_after: str | None = None  # the receiver's Retry-After header, as sent


def _refused(error: str, status_code: int | None = None) -> AttemptResult:
    return AttemptResult(delivered=False, retryable=False, status_code=status_code, error=error)


def _transient(error: str, status_code: int | None = None, retry_after=None) -> AttemptResult:
    return AttemptResult(
        delivered=False,
        retryable=True,
        status_code=status_code,
        error=error,
        retry_after=retry_after,
    )


# --- Webhooks --------------------------------------------------------------------------------


@functools.cache
def _tls() -> ssl.SSLContext:
    # Loading the CA bundle takes some 20 ms: once per process, not per attempt.
    return httpx.create_ssl_context()


def _host_header(destination: destinations.Destination) -> str:
    host = f"[{destination.host}]" if ":" in destination.host else destination.host
    if destination.port != destinations.SCHEMES[destination.scheme]:
        host += f":{destination.port}"
    return host


async def _post(destination: destinations.Destination, body: bytes, headers: dict) -> AttemptResult:
    # Connect to the address that was checked (never resolve the name again), while the
    # receiver still sees its own name in Host and, for TLS, in SNI and the certificate check.
    url = httpx.URL(destination.url).copy_with(host=str(destination.address))
    timeout = httpx.Timeout(
        connect=settings.CALCQUEUE_WEBHOOK_CONNECT_TIMEOUT_SECONDS,
        read=settings.CALCQUEUE_WEBHOOK_READ_TIMEOUT_SECONDS,
        write=settings.CALCQUEUE_WEBHOOK_READ_TIMEOUT_SECONDS,
        pool=settings.CALCQUEUE_WEBHOOK_CONNECT_TIMEOUT_SECONDS,
    )
    async with (
        httpx.AsyncClient(
            timeout=timeout, verify=_tls(), trust_env=False, follow_redirects=False
        ) as client,
        client.stream(
            "POST",
            url,
            content=body,
            headers={**headers, "Host": _host_header(destination)},
            extensions={"sni_hostname": destination.host},
        ) as response,
    ):
        status = response.status_code
        if 200 <= status < 300:
            return AttemptResult(delivered=True, status_code=status)
        excerpt = b""
        async for chunk in response.aiter_bytes():
            excerpt += chunk
            if len(excerpt) >= ERROR_BODY_BYTES:
                break
        text = excerpt[:ERROR_BODY_BYTES].decode("utf-8", "replace").strip()
        error = f"HTTP {status} {response.reason_phrase}" + (f": {text}" if text else "")
        if status == 429 or status >= 500:
            return _transient(error, status, response.headers.get("Retry-After"))
        if 300 <= status < 400:
            where = response.headers.get("Location", "")
            return _refused(f"HTTP {status}: redirects are not followed ({where})", status)
        return _refused(error, status)


def _describe(error: Exception) -> str:
    """The error with its root cause: "ConnectError: … (ConnectionRefusedError: …)"."""
    text = f"{type(error).__name__}: {error}"
    cause = error
    while (cause.__cause__ or cause.__context__) is not None:
        cause = cause.__cause__ or cause.__context__
    if cause is not error and str(cause) not in text:
        text += f" ({type(cause).__name__}: {cause})"
    return text


def webhook_send(*, url: str, body: str, secret: str, event_id: str) -> AttemptResult:
    """POST the event to `url`, signed now; within connect + read timeout seconds in all
    (a receiver that trickles its answer byte by byte is cut off too)."""
    try:
        destination = destinations.destination_check(
            url=url,
            allowed_hosts=settings.CALCQUEUE_WEBHOOK_ALLOWED_HOSTS,
            dns_timeout=settings.CALCQUEUE_WEBHOOK_DNS_TIMEOUT_SECONDS,
        )
    except destinations.UnresolvedHost as error:
        return _transient(str(error))
    except destinations.RefusedURL as error:
        return _refused(str(error))
    payload = body.encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Calcqueue-Event-Id": event_id,
        SIGNATURE_HEADER: signature_header(secret=secret, body=payload, timestamp=int(time.time())),
    }
    limit = (
        settings.CALCQUEUE_WEBHOOK_CONNECT_TIMEOUT_SECONDS
        + settings.CALCQUEUE_WEBHOOK_READ_TIMEOUT_SECONDS
    )
    try:
        return asyncio.run(asyncio.wait_for(_post(destination, payload, headers), limit))
    except (TimeoutError, httpx.TimeoutException) as error:
        kind = type(error).__name__ if isinstance(error, httpx.TimeoutException) else "Timeout"
        return _transient(f"{kind}: no answer in time ({limit:g} s at most in all)")
    except httpx.TransportError as error:
        return _transient(_describe(error))


# --- Email -----------------------------------------------------------------------------------


def email_send(message: EmailMessage) -> AttemptResult:
    """Send through Django's email backend (SMTP in production, the console in development).
    SMTP's 4xx replies and lost connections are transient; its 5xx replies are final."""
    try:
        message.send(fail_silently=False)
    except smtplib.SMTPRecipientsRefused as error:
        code, reply = next(iter(error.recipients.values()))
        text = f"SMTP {code}: {reply.decode(errors='replace')}"
        return _transient(text, code) if 400 <= code < 500 else _refused(text, code)
    except smtplib.SMTPResponseException as error:
        reply = error.smtp_error
        if isinstance(reply, bytes):
            reply = reply.decode(errors="replace")
        text = f"SMTP {error.smtp_code}: {reply}"
        if 400 <= error.smtp_code < 500:
            return _transient(text, error.smtp_code)
        return _refused(text, error.smtp_code)
    except (smtplib.SMTPException, OSError) as error:
        return _transient(f"{type(error).__name__}: {error}")
    return AttemptResult(delivered=True)
