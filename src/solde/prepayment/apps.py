from django.apps import AppConfig


class PrepaymentConfig(AppConfig):
    name = "solde.prepayment"
    verbose_name = "Prepayment"

    def ready(self) -> None:
        # Credit control listens to closes and balance changes, and runs at window openings;
        # its admin attaches after the admin's autodiscovery.
        from solde.prepayment import credit_admin, credit_control

        credit_control.connect()
        credit_admin.register()
