from django.apps import AppConfig


class PrepaymentConfig(AppConfig):
    name = "solde.prepayment"
    verbose_name = "Prepayment"

    def ready(self) -> None:
        from solde.prepayment import tasks
        from solde.readings.signals import readings_accepted

        readings_accepted.connect(tasks.on_readings_accepted, dispatch_uid="close-catch-up")
        tasks.register_jobs()
