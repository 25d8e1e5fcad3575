from django.apps import AppConfig


class SettlementConfig(AppConfig):
    name = "solde.settlement"
    verbose_name = "Settlement"

    def ready(self) -> None:
        from solde.settlement import tasks  # noqa: F401  (registers the scheduled jobs)
