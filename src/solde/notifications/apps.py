from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "solde.notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from solde.notifications import tasks  # noqa: F401  (registers the scheduled jobs)
