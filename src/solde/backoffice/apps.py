from django.apps import AppConfig


class BackofficeConfig(AppConfig):
    name = "solde.backoffice"
    verbose_name = "Backoffice"
