"""`solde` = the Django management commands (`solde close-day`, `solde import-readings` …)."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "solde.settings")
    if sys.argv[1:2] == ["demo"]:
        # The demo is local by definition: plain HTTP on 127.0.0.1, fakes, the public demo key.
        os.environ.setdefault("SOLDE_DEMO", "1")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["solde", *sys.argv[1:]])


if __name__ == "__main__":
    main()
