from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from accounts import callers

        # Every login (the login page, sign-up, the admin's) hands the session's anonymous
        # calculations to the user who just signed in.
        user_logged_in.connect(callers.adopt_session_calculations, dispatch_uid="adopt_anonymous")
