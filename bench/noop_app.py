"""A plain Celery app with calcqueue's worker settings and one no-op task: the baseline the
system benchmark measures calcqueue against (`python -m bench.system`).

The task increments a Redis counter so that the benchmark can tell when every message has
been executed without a result backend; that is one Redis command per task more than a
bare no-op.
"""

import os

import redis
from celery import Celery

BROKER_URL = os.environ["BENCH_NOOP_BROKER_URL"]
# The same server as seen by redis-py, which spells a unix socket unix:// (kombu: redis+socket://).
REDIS_URL = BROKER_URL.replace("redis+socket://", "unix://")
COUNTER = "bench:noop:done"

app = Celery("noop", broker=BROKER_URL)
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_default_queue="noop",
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)
_counter = redis.Redis.from_url(REDIS_URL)


@app.task(name="bench.noop")
def noop() -> None:
    _counter.incr(COUNTER)


PINGS = "bench:noop:pings"


@app.task(name="bench.ping")
def ping() -> None:
    """Record when it ran, so that the benchmark can time a Celery round trip."""
    import time

    _counter.rpush(PINGS, repr(time.time()))
