from django.apps import AppConfig


class PrepaymentConfig(AppConfig):
    name = "solde.prepayment"
    verbose_name = "Prepayment"

    def ready(self) -> None:
        # Credit control listens to closes and balance changes, and runs at window openings.
        from solde.prepayment import credit_control

        credit_control.connect()
