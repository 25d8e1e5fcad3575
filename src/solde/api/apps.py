from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "solde.api"
    verbose_name = "Integration API"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from solde.api.keys import forget_changed_key

        # A key or a partner changed in this process (the admin, the console): the keys this
        # process verified lately are checked against the database again.
        post_save.connect(forget_changed_key, sender="api.ApiKey", dispatch_uid="api.key_saved")
        post_save.connect(
            forget_changed_key, sender="topups.Partner", dispatch_uid="api.partner_saved"
        )
