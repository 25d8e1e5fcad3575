from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "solde.orders"
    verbose_name = "Orders"

    def ready(self) -> None:
        from solde import schedule
        from solde.orders.tasks import SWEEP

        schedule.register(SWEEP)
