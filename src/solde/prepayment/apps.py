from django.apps import AppConfig


class PrepaymentConfig(AppConfig):
    name = "solde.prepayment"
    verbose_name = "Prepayment"
