"""Backups of the live test database, restored as the README says into a fresh database and
compared row by row; rotation; the retention task."""

import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from calculations import tasks
from calculations.models import Calculation
from monitoring import backups
from tests.calculations.factories import make_calculation, make_finished, make_success
from tests.conftest import BASE_DIR

S = Calculation.Status
TABLES = ("calculations_calculation", "calculations_calculationoutput")


def some_rows() -> None:
    make_success("1" * 5000, n=5000)
    make_success("354224848179261915075", n=100)
    make_finished(S.ERROR, error="ValueError: boom")
    make_calculation(n=77)


def sqlite_rows(path: Path) -> dict[str, list[tuple]]:
    database = sqlite3.connect(path)
    try:
        return {t: database.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in TABLES}
    finally:
        database.close()


def postgres_rows(dsn: str) -> dict[str, list[tuple]]:
    with psycopg.connect(dsn) as database:
        return {t: database.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in TABLES}


def migrations_complete(database_url: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "migrate", "--check"],
        cwd=BASE_DIR,
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
    )


@pytest.mark.django_db(transaction=True)
def test_backup_restored_into_a_fresh_database_has_every_row(tmp_path):
    some_rows()
    call_command("backup_database", directory=str(tmp_path / "backups"), keep=3)
    (backup,) = backups.backups_list(directory=tmp_path / "backups")
    database = connection.settings_dict

    if connection.vendor == "sqlite":
        # README, "Backups": with everything stopped, the backup file becomes the database.
        restored = tmp_path / "restored.sqlite3"
        subprocess.run(["cp", str(backup), str(restored)], check=True)
        rows = sqlite_rows(restored)
        assert rows == sqlite_rows(Path(database["NAME"]))
        checked = migrations_complete(f"sqlite:///{restored}")
    else:
        # README, "Backups": pg_restore into a new, empty database.
        name = f"{database['NAME']}_restored"
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
            cursor.execute(f'CREATE DATABASE "{name}"')
        host, port = database["HOST"] or "127.0.0.1", database["PORT"] or 5432
        subprocess.run(
            [
                "pg_restore",
                "--no-owner",
                f"--host={host}",
                f"--port={port}",
                f"--username={database['USER']}",
                f"--dbname={name}",
                str(backup),
            ],
            check=True,
            env={**os.environ, "PGPASSWORD": database["PASSWORD"] or ""},
        )
        credentials = f"{database['USER']}:{database['PASSWORD'] or ''}"
        live = f"postgresql://{credentials}@{host}:{port}/{database['NAME']}"
        restored_url = f"postgresql://{credentials}@{host}:{port}/{name}"
        try:
            rows = postgres_rows(restored_url)
            assert rows == postgres_rows(live)
            checked = migrations_complete(restored_url)
        finally:
            with connection.cursor() as cursor:
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
    counts = {table: len(table_rows) for table, table_rows in rows.items()}
    print(f"\nrestored {backup.name} ({backup.stat().st_size:,} bytes), equal rows: {counts}")
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.django_db(transaction=True)
def test_backup_keeps_only_the_newest(tmp_path):
    first = datetime(2026, 1, 1, 2, 0, tzinfo=UTC)
    written = [
        backups.database_backup(directory=tmp_path, keep=2, now=first + timedelta(days=day))
        for day in range(3)
    ]
    assert backups.backups_list(directory=tmp_path) == written[1:]
    assert not written[0].exists()
    assert not list(tmp_path.glob("*.partial"))


def test_backups_rotate_leaves_other_files_alone(tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    for day in range(1, 4):
        (tmp_path / f"calcqueue-2026010{day}T020000Z.sqlite3").write_text("")
    removed = backups.backups_rotate(directory=tmp_path, keep=1)
    assert [path.name for path in removed] == [
        "calcqueue-20260101T020000Z.sqlite3",
        "calcqueue-20260102T020000Z.sqlite3",
    ]
    assert (tmp_path / "notes.txt").exists()


def test_backup_database_command_refuses_keep_below_one(tmp_path):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--keep"):
        call_command("backup_database", directory=str(tmp_path), keep=0)


@pytest.mark.django_db
def test_purge_finished_deletes_only_finished_rows_older_than_the_retention(settings):
    settings.CALCQUEUE_RETENTION_DAYS = 30
    old = make_finished(S.SUCCESS, finished_ago=timedelta(days=31))
    old_error = make_finished(S.ERROR, finished_ago=timedelta(days=40))
    recent = make_finished(S.SUCCESS, finished_ago=timedelta(days=29))
    waiting = make_calculation(created_at=timezone.now() - timedelta(days=90))
    tasks.purge_finished()
    remaining = set(Calculation.objects.values_list("pk", flat=True))
    assert remaining == {recent.pk, waiting.pk}
    assert old.pk not in remaining and old_error.pk not in remaining


@pytest.mark.django_db
def test_purge_finished_with_zero_days_keeps_everything(settings):
    settings.CALCQUEUE_RETENTION_DAYS = 0
    make_finished(S.SUCCESS, finished_ago=timedelta(days=400))
    tasks.purge_finished()
    assert Calculation.objects.count() == 1


@pytest.mark.django_db
def test_purge_finished_stops_after_its_rows_per_run(monkeypatch, settings):
    settings.CALCQUEUE_RETENTION_DAYS = 1
    monkeypatch.setattr(tasks, "PURGE_MAX_ROWS_PER_RUN", 2)
    monkeypatch.setattr("calculations.services._DELETE_BATCH_SIZE", 2)
    for _ in range(5):
        make_finished(S.SUCCESS, finished_ago=timedelta(days=2))
    tasks.purge_finished()
    assert Calculation.objects.count() == 3
