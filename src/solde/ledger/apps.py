from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "solde.ledger"
    verbose_name = "Ledger"
