from django.apps import AppConfig


class TopupsConfig(AppConfig):
    name = "solde.topups"
    verbose_name = "Topups"

    def ready(self) -> None:
        from solde.topups import tasks  # noqa: F401  (registers the scheduled jobs)
