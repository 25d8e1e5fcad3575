from django.apps import AppConfig


class HeadendConfig(AppConfig):
    name = "solde.headend"
    verbose_name = "Headend"
