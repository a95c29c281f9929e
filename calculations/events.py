"""Final calculations announced over Redis pub/sub, so that a long poll (`?wait`) answers as
soon as a result is stored instead of re-reading the row on a timer.

The database stays the truth. A waiter subscribes before it reads the row, so a calculation
that becomes final in between is seen either way, and it reads the row again after every
announcement and at least every RECHECK_SECONDS, so an announcement that never came (Redis
down, a publisher killed after its commit) costs it at most that long.
"""

import functools
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress

import redis
from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)

CHANNEL_PREFIX = "calcqueue:final:"
RECHECK_SECONDS = 1.0
# Without Redis a waiter falls back to re-reading the row this often.
FALLBACK_POLL_SECONDS = 0.05
_REDIS_ERRORS = (redis.exceptions.RedisError, OSError)


@functools.cache
def _redis() -> redis.Redis:
    """The cache's Redis (REDIS_URL, with its timeouts and TLS options), whatever the broker."""
    cache = settings.CACHES["default"]
    return redis.Redis.from_url(cache["LOCATION"], **cache["OPTIONS"])


def _channel(calculation_id: uuid.UUID | str) -> str:
    return f"{CHANNEL_PREFIX}{calculation_id}"


def calculations_announce_final(*, calculation_ids: Iterable[uuid.UUID | str]) -> None:
    """Tell waiters, once the transaction that stored the final statuses commits."""
    ids = list(calculation_ids)
    if ids:
        transaction.on_commit(lambda: _publish(ids), robust=True)


def _publish(calculation_ids: list) -> None:
    try:
        with _redis().pipeline(transaction=False) as pipeline:
            for calculation_id in calculation_ids:
                pipeline.publish(_channel(calculation_id), "final")
            pipeline.execute()
    except _REDIS_ERRORS as error:
        logger.warning(
            "final status of %d calculation(s) not announced (waiters re-read it): %s",
            len(calculation_ids),
            error,
        )


def _fallback_wait(seconds: float) -> bool:
    time.sleep(min(seconds, FALLBACK_POLL_SECONDS))
    return False


@contextmanager
def final_announcement(calculation_id: uuid.UUID | str) -> Iterator[Callable[[float], bool]]:
    """Subscribe to the calculation's announcement; yield `wait(seconds)`, which returns True
    when it arrives, or False after `seconds` (without Redis, after FALLBACK_POLL_SECONDS at
    most, so that the caller re-reads the row)."""
    pubsub = _redis().pubsub()
    try:
        pubsub.subscribe(_channel(calculation_id))
        # The confirmation: from here on no announcement can be missed.
        if pubsub.get_message(timeout=RECHECK_SECONDS) is None:
            raise redis.exceptions.TimeoutError("no confirmation of the subscription")
    except _REDIS_ERRORS as error:
        logger.warning("long poll without announcements (re-reading the row): %s", error)
        with suppress(*_REDIS_ERRORS):
            pubsub.close()
        yield _fallback_wait
        return

    def wait(seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        try:
            while (remaining := deadline - time.monotonic()) > 0:
                message = pubsub.get_message(timeout=remaining)
                if message is not None and message["type"] == "message":
                    return True
        except _REDIS_ERRORS:
            return _fallback_wait(max(deadline - time.monotonic(), 0))
        return False

    try:
        yield wait
    finally:
        with suppress(*_REDIS_ERRORS):
            pubsub.close()
