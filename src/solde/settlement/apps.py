from django.apps import AppConfig


class SettlementConfig(AppConfig):
    name = "solde.settlement"
    verbose_name = "Settlement"
