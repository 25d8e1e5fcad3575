from django.apps import AppConfig


class PrepaymentConfig(AppConfig):
    name = "solde.prepayment"
    verbose_name = "Prepayment"

    def ready(self) -> None:
        from solde.prepayment import tasks
        from solde.readings.signals import readings_accepted

        readings_accepted.connect(tasks.on_readings_accepted, dispatch_uid="close-catch-up")
        tasks.register_jobs()

        # Credit control listens to closes and balance changes, and runs at window openings;
        # its admin attaches after the admin's autodiscovery.
        from solde.prepayment import credit_admin, credit_control

        credit_control.connect()
        credit_admin.register()
