from django.apps import AppConfig


class SoldeConfig(AppConfig):
    name = "solde"
    verbose_name = "Solde"

    def ready(self) -> None:
        from solde import (
            checks,  # noqa: F401 — registers the production system checks
            work,
        )

        work.register_job()
