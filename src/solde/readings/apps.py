from django.apps import AppConfig


class ReadingsConfig(AppConfig):
    name = "solde.readings"
    verbose_name = "Readings"
