"""Whether a new submission is let in: the caller's rate limit, then the queue's backpressure.

Both answer with how long to wait (Retry-After); the form and the API turn them into 429 and
503 responses.
"""

from django.conf import settings

from accounts.callers import Caller
from calculations import ratelimit, selectors


class SubmissionRefused(Exception):
    status: int

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimited(SubmissionRefused):
    status = 429


class Overloaded(SubmissionRefused):
    status = 503


def submission_admit(*, caller: Caller) -> None:
    """Count a submission of `caller`; raise RateLimited or Overloaded to refuse it.

    Staff are not rate-limited (they operate the service), but backpressure applies to all.
    """
    rate = (
        settings.CALCQUEUE_RATE_LIMIT_SIGNED_IN
        if caller.is_signed_in
        else settings.CALCQUEUE_RATE_LIMIT_ANONYMOUS
    )
    if rate is not None and not caller.is_staff:
        limit, period = rate
        verdict = ratelimit.rate_limit_hit(
            scope="submit", key=caller.rate_key, limit=limit, period=period
        )
        if not verdict.allowed:
            raise RateLimited(
                f"Too many submissions: at most {limit} every {period} s. "
                f"Try again in {verdict.retry_after} s.",
                retry_after=verdict.retry_after,
            )
    status = selectors.backpressure_status()
    if status.active:
        raise Overloaded(
            f"The queue is full ({status.reason}). Try again in {status.retry_after} s.",
            retry_after=status.retry_after,
        )
