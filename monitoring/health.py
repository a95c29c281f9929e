"""Readiness: can this web process serve, and will what it accepts be computed?

Each check answers within about CALCQUEUE_READY_TIMEOUT_SECONDS and reports what failed, so a
load balancer (503) and a person (the JSON body) both learn which part is down.
"""

import time
from dataclasses import dataclass

import kombu.exceptions
from django.conf import settings
from django.db import DatabaseError, connection

from calculations.services import BROKER_ERRORS


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    seconds: float

    def as_json(self) -> dict:
        return {
            "status": "ok" if self.ok else "fail",
            "detail": self.detail,
            "seconds": round(self.seconds, 4),
        }


class _NoWorker(Exception):
    pass


def _timed(name: str, probe) -> Check:
    started = time.perf_counter()
    try:
        detail = probe()
        ok = True
    except (DatabaseError, *BROKER_ERRORS, kombu.exceptions.KombuError) as error:
        ok, detail = False, f"{type(error).__name__}: {error}"
    except _NoWorker as error:
        ok, detail = False, str(error)
    return Check(name, ok, detail, time.perf_counter() - started)


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return connection.vendor


def _broker() -> str:
    from config.celery_app import app

    with app.connection_for_write() as broker:
        # One attempt, bounded by the broker's connect timeout: no retry loop in a probe.
        broker.ensure_connection(
            max_retries=1,
            interval_start=0,
            interval_step=0,
            timeout=settings.CALCQUEUE_READY_TIMEOUT_SECONDS,
        )
        return broker.transport.driver_name


def _workers() -> str:
    from config.celery_app import app

    # limit=1: the first answer is enough, so a healthy system answers in milliseconds.
    replies = app.control.ping(timeout=settings.CALCQUEUE_READY_TIMEOUT_SECONDS, limit=1)
    if not replies:
        raise _NoWorker(
            f"no worker answered a ping within {settings.CALCQUEUE_READY_TIMEOUT_SECONDS:g} s"
        )
    return f"{next(iter(replies[0]))} answered"


def readiness_checks() -> list[Check]:
    checks = [_timed("database", _database), _timed("broker", _broker)]
    if checks[1].ok:
        checks.append(_timed("workers", _workers))
    else:
        checks.append(Check("workers", False, "not asked: the broker is unreachable", 0.0))
    return checks
