from django.apps import AppConfig


class CalculationsConfig(AppConfig):
    name = "calculations"
    default_auto_field = "django.db.models.BigAutoField"
