"""Celery beat with django-celery-beat's database scheduler: the schedule of the settings is in
the database after beat starts, visible in the admin, and an entry disabled there stays so."""

import os
import subprocess
import sys
import time

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from devstack.processes import spawn, stop
from tests.conftest import BASE_DIR, _database_url

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
ENTRIES = {
    "sweep-calculations",
    "purge-idempotency-keys",
    "purge-finished-calculations",
    "backup-database",
}


def run_beat_until_synced(tmp_path, broker_url: str, **env: str) -> None:
    """Run beat until it has written every entry of the settings into the database."""
    started = timezone.now()
    log = tmp_path / f"beat-{started.timestamp()}.log"
    with log.open("wb") as output:
        beat = spawn(
            [sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel", "INFO"],
            cwd=BASE_DIR,
            env={**os.environ, "DATABASE_URL": _database_url(), "REDIS_URL": broker_url, **env},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        synced = PeriodicTask.objects.filter(name__in=ENTRIES, date_changed__gte=started)
        while synced.count() < len(ENTRIES):
            assert beat.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
    finally:
        stop(beat, grace=10)


def test_beat_writes_the_schedule_into_the_database_and_keeps_admin_disables(
    tmp_path, broker_url, client
):
    run_beat_until_synced(tmp_path, broker_url, CALCQUEUE_SWEEP_INTERVAL_SECONDS="7")
    sweep = PeriodicTask.objects.get(name="sweep-calculations")
    assert (sweep.task, sweep.interval.every, sweep.interval.period) == (
        "calculations.sweep",
        7,
        "seconds",
    )
    assert sweep.expire_seconds == 7
    backup = PeriodicTask.objects.get(name="backup-database")
    assert (backup.crontab.hour, backup.crontab.minute) == ("2", "0")

    client.force_login(User.objects.create_superuser("admin", password="x"))
    page = client.get("/admin/django_celery_beat/periodictask/").content.decode()
    assert all(name in page for name in ENTRIES)

    PeriodicTask.objects.filter(name="sweep-calculations").update(enabled=False)
    run_beat_until_synced(tmp_path, broker_url, CALCQUEUE_SWEEP_INTERVAL_SECONDS="9")
    sweep = PeriodicTask.objects.get(name="sweep-calculations")
    assert (sweep.enabled, sweep.interval.every) == (False, 9)
