from django.apps import AppConfig


class TopupsConfig(AppConfig):
    name = "solde.topups"
    verbose_name = "Topups"
