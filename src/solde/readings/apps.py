from django.apps import AppConfig


class ReadingsConfig(AppConfig):
    name = "solde.readings"
    verbose_name = "Readings"

    def ready(self) -> None:
        from solde.readings import tasks

        tasks.register_jobs()  # partitions ahead, retention per DSO
