from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "solde.ledger"
    verbose_name = "Ledger"

    def ready(self) -> None:
        import solde.bulk  # noqa: F401 - registers the `any_of` lookup used by bulk paths
