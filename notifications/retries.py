"""When to try a delivery again: exponential backoff with jitter, and Retry-After."""

import email.utils
import random
from datetime import datetime


def backoff_seconds(
    *, attempt: int, base: float, maximum: float, rng: random.Random | None = None
) -> float:
    """The wait after failed attempt number `attempt` (1, 2, ...): base × 2^(attempt − 1),
    at most `maximum`, times a random factor of 0.5 to 1 so that receivers that failed
    together are not all tried again at the same moment."""
    ceiling = min(maximum, base * 2 ** (attempt - 1))
    return ceiling * (rng or random).uniform(0.5, 1.0)


def retry_after_seconds(value: str | None, *, now: datetime) -> float | None:
    """The seconds a Retry-After header asks for (a number or an HTTP date), if valid."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        return None
    return max((moment - now).total_seconds(), 0.0)
