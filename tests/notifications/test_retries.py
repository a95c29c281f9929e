import random
from datetime import UTC, datetime

from notifications.retries import backoff_seconds, retry_after_seconds

NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)


def test_backoff_doubles_up_to_the_maximum_with_jitter_between_half_and_all():
    rng = random.Random(7)
    for attempt, ceiling in [(1, 10), (2, 20), (3, 40), (6, 320), (7, 600), (12, 600)]:
        waits = [
            backoff_seconds(attempt=attempt, base=10, maximum=600, rng=rng) for _ in range(200)
        ]
        assert ceiling / 2 <= min(waits) and max(waits) <= ceiling
        assert max(waits) - min(waits) > ceiling / 4  # jittered, not constant


def test_backoff_defaults_bound_eight_attempts_to_twenty_and_a_half_minutes():
    ceilings = [backoff_seconds(attempt=a, base=10, maximum=600, rng=_Top()) for a in range(1, 8)]
    assert ceilings == [10, 20, 40, 80, 160, 320, 600] and sum(ceilings) == 1230


class _Top(random.Random):
    def uniform(self, a, b):
        return b


def test_retry_after_reads_seconds_and_http_dates():
    assert retry_after_seconds("120", now=NOW) == 120
    assert retry_after_seconds(" 0 ", now=NOW) == 0
    assert retry_after_seconds("Tue, 01 Dec 2026 12:00:30 GMT", now=NOW) == 30
    assert retry_after_seconds("Tue, 01 Dec 2026 11:00:00 GMT", now=NOW) == 0  # past


def test_retry_after_ignores_what_it_cannot_read():
    for value in (None, "", "soon", "-5", "1.5", "٣", "Tue, 01 Dec 2026 12:00:30"):
        assert retry_after_seconds(value, now=NOW) is None
