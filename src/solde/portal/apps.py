from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "solde.portal"
    verbose_name = "Portal"

    def ready(self) -> None:
        from solde.portal.services import on_account_activated
        from solde.prepayment.signals import account_activated

        account_activated.connect(on_account_activated, dispatch_uid="portal.activation_codes")
