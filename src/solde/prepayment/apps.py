from django.apps import AppConfig


class PrepaymentConfig(AppConfig):
    name = "solde.prepayment"
    verbose_name = "Prepayment"

    def ready(self) -> None:
        from solde.prepayment import tasks

        # Every new supply point gets its pending account in the registry's transaction.
        from solde.prepayment.services import on_supply_points_created
        from solde.registry.signals import supply_points_created

        supply_points_created.connect(on_supply_points_created, dispatch_uid="open-accounts")
        tasks.register_jobs()  # the 05:00 close; the catch-up close's work handler

        # Credit control does the closes' work, listens to balance changes and runs at window
        # openings; its admin attaches after the admin's autodiscovery.
        from solde.prepayment import credit_admin, credit_control

        credit_control.connect()
        credit_admin.register()
