from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "solde.notifications"
    verbose_name = "Notifications"
