from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "solde.portal"
    verbose_name = "Portal"
