"""Fixed-window rate limits, counted in the Django cache (Redis).

A window is aligned to the clock (seconds since the epoch // period), so every process agrees
on it without coordination; INCR is atomic in Redis, so concurrent requests are counted
exactly. A key is only incremented during its window and expires a second after it.
"""

import logging
import math
import time
from dataclasses import dataclass

import redis.exceptions
from django.core.cache import cache

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    count: int
    retry_after: int  # whole seconds until the window ends


def rate_limit_hit(*, scope: str, key: str, limit: int, period: int) -> Verdict:
    """Count one request of `key` against `limit` per `period` seconds.

    When the cache cannot be reached, the request is allowed (and logged): a lost Redis
    must not stop submissions, which stay bounded by backpressure and batch sizes.
    """
    now = time.time()
    window = int(now // period)
    cache_key = f"ratelimit:{scope}:{key}:{window}"
    retry_after = max(math.ceil((window + 1) * period - now), 1)
    try:
        cache.add(cache_key, 0, timeout=period + 1)
        count = cache.incr(cache_key)
    except (redis.exceptions.RedisError, OSError, ValueError) as error:
        logger.warning("rate limit %s not checked (cache unavailable): %s", scope, error)
        return Verdict(allowed=True, count=0, retry_after=0)
    return Verdict(allowed=count <= limit, count=count, retry_after=retry_after)
