from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from calculations import services


class Command(BaseCommand):
    help = "Delete all calculations, or only the finished ones older than a number of days."

    def add_arguments(self, parser) -> None:
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument("--all", action="store_true", help="delete every calculation")
        group.add_argument(
            "--finished-older-than",
            type=float,
            metavar="DAYS",
            help="delete SUCCESS and ERROR calculations finished more than DAYS days ago",
        )

    def handle(self, *args, all: bool, finished_older_than: float | None, **options) -> None:
        if finished_older_than is not None and finished_older_than < 0:
            raise CommandError("--finished-older-than takes a number of days >= 0")
        cutoff = None if all else timezone.now() - timedelta(days=finished_older_than)
        deleted = services.calculations_delete(finished_before=cutoff)
        self.stdout.write(f"Deleted {deleted} calculation(s).")
