"""Idempotency keys of the JSON API: a retried request gets the first response, once.

A request's key is stored in the same transaction as the work it does, under a unique
constraint: of two concurrent requests with one key, the second waits for the first's commit
(PostgreSQL's unique index, SQLite's write lock), then finds the key and replays its response.
"""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from calculations.models import IdempotencyKey


class IdempotencyKeyReused(Exception):
    """The key was first used for a different request."""


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: str
    location: str = ""


def request_fingerprint(*, method: str, path: str, canonical_body: str) -> str:
    return hashlib.sha256(f"{method}\n{path}\n{canonical_body}".encode()).hexdigest()


def idempotent_response(
    *, scope: str, key: str, fingerprint: str, produce: Callable[[], StoredResponse]
) -> StoredResponse:
    """The response stored under `key` for this caller (`scope`), or produce, store and
    return it.

    Raises IdempotencyKeyReused when the key was first used for another request. Whatever
    `produce` raises stores nothing, so a retry after a refused request is checked afresh.
    """
    expired = timezone.now() - timedelta(seconds=settings.CALCQUEUE_IDEMPOTENCY_TTL_SECONDS)
    IdempotencyKey.objects.filter(scope=scope, key=key, created_at__lt=expired).delete()
    try:
        with transaction.atomic():
            record = IdempotencyKey.objects.create(scope=scope, key=key, fingerprint=fingerprint)
            response = produce()
            record.response_status = response.status
            record.response_body = response.body
            record.response_location = response.location
            record.save(update_fields=["response_status", "response_body", "response_location"])
            return response
    except IntegrityError:
        record = IdempotencyKey.objects.get(scope=scope, key=key)
    if record.fingerprint != fingerprint:
        raise IdempotencyKeyReused(key)
    return StoredResponse(record.response_status, record.response_body, record.response_location)


def idempotency_keys_purge() -> int:
    """Delete expired keys; returns how many."""
    expired = timezone.now() - timedelta(seconds=settings.CALCQUEUE_IDEMPOTENCY_TTL_SECONDS)
    return IdempotencyKey.objects.filter(created_at__lt=expired).delete()[0]
