from django.apps import AppConfig


class PhonelineConfig(AppConfig):
    name = "solde.phoneline"
    verbose_name = "Phoneline"
