"""`solde` = the Django management commands (`solde close-day`, `solde import-readings` …)."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "solde.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["solde", *sys.argv[1:]])


if __name__ == "__main__":
    main()
