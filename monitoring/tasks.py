"""Scheduled operations (Celery beat): each calls a plain function and is safe to run twice."""

from celery import shared_task
from django.conf import settings

from monitoring import backups

# A large SQLite file takes minutes to copy; the default calculation limits are not for this.
BACKUP_TIME_LIMIT_SECONDS = 3600


@shared_task(
    name="monitoring.backup_database",
    ignore_result=True,
    soft_time_limit=BACKUP_TIME_LIMIT_SECONDS,
    time_limit=BACKUP_TIME_LIMIT_SECONDS + 60,
)
def backup_database() -> None:
    backups.database_backup(
        directory=settings.CALCQUEUE_BACKUP_DIR, keep=settings.CALCQUEUE_BACKUP_KEEP
    )
