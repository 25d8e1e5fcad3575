from django.apps import AppConfig


class SoldeConfig(AppConfig):
    name = "solde"
    verbose_name = "Solde"
