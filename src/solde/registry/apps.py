from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "solde.registry"
    verbose_name = "Registry"
