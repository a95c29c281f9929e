"""Database backups: a consistent copy of the live database, written beside the others and
rotated, without stopping anything.

- SQLite: `VACUUM INTO` copies the database as of one read transaction (WAL lets writers go
  on meanwhile) into a new, compact file, which is checked with `PRAGMA quick_check` before it
  takes its final name.
- PostgreSQL: `pg_dump --format=custom` (one snapshot, restored with `pg_restore`).

A backup is written under a temporary name and renamed when complete, so a crash never leaves
a partial file that looks like a backup; rotation keeps the newest CALCQUEUE_BACKUP_KEEP.
"""

import logging
import os
import shutil
import sqlite3
import subprocess
from datetime import datetime
from pathlib import Path

from django.db import connection
from django.utils import timezone

logger = logging.getLogger(__name__)
PREFIX = "calcqueue-"
SUFFIXES = {"sqlite": ".sqlite3", "postgresql": ".pgdump"}


class BackupError(Exception):
    pass


def _sqlite_backup(target: Path) -> None:
    with connection.cursor() as cursor:
        cursor.execute("VACUUM INTO %s", [str(target)])
    check = sqlite3.connect(target)
    try:
        (result,) = check.execute("PRAGMA quick_check").fetchone()
    finally:
        check.close()
    if result != "ok":
        raise BackupError(f"the copy failed its integrity check: {result}")


def _postgresql_backup(target: Path) -> None:
    database = connection.settings_dict
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise BackupError("pg_dump is not installed (the PostgreSQL client tools)")
    env = {**os.environ, "PGPASSWORD": database["PASSWORD"] or ""}
    completed = subprocess.run(
        [
            pg_dump,
            "--format=custom",
            "--no-owner",
            f"--file={target}",
            f"--host={database['HOST'] or '127.0.0.1'}",
            f"--port={database['PORT'] or 5432}",
            f"--username={database['USER']}",
            database["NAME"],
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    if completed.returncode != 0:
        raise BackupError(f"pg_dump failed: {completed.stderr.strip()}")


def database_backup(*, directory: Path, keep: int, now: datetime | None = None) -> Path:
    """Back the database up into `directory` and delete all but the newest `keep` backups;
    return the new backup's path."""
    suffix = SUFFIXES.get(connection.vendor)
    if suffix is None:
        raise BackupError(f"no backup method for {connection.vendor}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    stamp = (now or timezone.now()).strftime("%Y%m%dT%H%M%SZ")
    target = directory / f"{PREFIX}{stamp}{suffix}"
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        (_sqlite_backup if connection.vendor == "sqlite" else _postgresql_backup)(partial)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    removed = backups_rotate(directory=directory, keep=keep)
    logger.info(
        "backup %s written (%d bytes), %d old backup(s) removed",
        target,
        target.stat().st_size,
        len(removed),
        extra={"backup": str(target), "bytes": target.stat().st_size},
    )
    return target


def backups_list(*, directory: Path) -> list[Path]:
    """The complete backups in `directory`, oldest first (the names sort by time)."""
    return sorted(
        path
        for path in Path(directory).glob(f"{PREFIX}*")
        if path.suffix in SUFFIXES.values() and path.is_file()
    )


def backups_rotate(*, directory: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` backups; return the deleted paths."""
    backups = backups_list(directory=directory)
    doomed = backups[: max(len(backups) - max(keep, 1), 0)]
    for path in doomed:
        path.unlink()
    return doomed
