from django.apps import AppConfig


class BackofficeConfig(AppConfig):
    name = "solde.backoffice"
    label = "backoffice"
    verbose_name = "Console"

    def ready(self) -> None:
        from solde.backoffice import audit

        audit.register_models()
