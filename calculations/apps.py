from django.apps import AppConfig


class CalculationsConfig(AppConfig):
    name = "calculations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Connects the worker's lease keeper to Celery's worker signals.
        from calculations import heartbeat  # noqa: F401
