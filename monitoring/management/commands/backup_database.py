from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from monitoring import backups


class Command(BaseCommand):
    help = (
        "Back the database up now (SQLite: VACUUM INTO; PostgreSQL: pg_dump) into "
        "CALCQUEUE_BACKUP_DIR, keeping the newest CALCQUEUE_BACKUP_KEEP backups."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--directory", help="instead of CALCQUEUE_BACKUP_DIR")
        parser.add_argument("--keep", type=int, help="instead of CALCQUEUE_BACKUP_KEEP")

    def handle(self, *args, directory: str | None, keep: int | None, **options) -> None:
        if keep is not None and keep < 1:
            raise CommandError("--keep takes a number of backups >= 1")
        try:
            path = backups.database_backup(
                directory=directory or settings.CALCQUEUE_BACKUP_DIR,
                keep=keep or settings.CALCQUEUE_BACKUP_KEEP,
            )
        except backups.BackupError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"Backed up to {path}")
