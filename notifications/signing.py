"""The webhook signature: `Calcqueue-Signature: t=<unix time>,v1=<hex HMAC-SHA256>`, the HMAC
taken with the subscription's secret over "<t>.<body>" (Stripe's scheme), so that a receiver
can tell the event came from calcqueue and refuse an old one replayed (README, "Webhooks")."""

import hashlib
import hmac
import secrets

SIGNATURE_HEADER = "Calcqueue-Signature"
SECRET_PREFIX = "whsec_"  # nosec B105: the mark that starts every secret, not a secret


def secret_new() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature_header(*, secret: str, body: bytes, timestamp: int) -> str:
    signed = str(timestamp).encode() + b"." + body
    mac = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"
