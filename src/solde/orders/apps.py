from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "solde.orders"
    verbose_name = "Orders"
