from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "solde.api"
    verbose_name = "Integration API"
