from django.apps import AppConfig


class BackofficeConfig(AppConfig):
    name = "solde.backoffice"
    label = "backoffice"
    verbose_name = "Console"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from solde.backoffice import audit, twofactor

        audit.register_models()
        user_logged_in.connect(twofactor.mark_login, dispatch_uid="solde-staff-session")
