"""The console's four roles as Django groups with their permissions and adjustment limits."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

from solde.backoffice.roles import ROLES, ensure_roles


def create_roles(apps, schema_editor):
    config = apps.get_app_config("backoffice")
    config.models_module = True  # a migration's app stub: create_permissions checks it
    # Permissions are normally created after all migrations: make this app's exist now.
    create_permissions(config, apps=apps, verbosity=0)
    ensure_roles(
        apps.get_model("auth", "Group"),
        apps.get_model("auth", "Permission"),
        apps.get_model("backoffice", "AdjustmentLimit"),
    )


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=list(ROLES)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("backoffice", "0001_console"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]
    operations = [migrations.RunPython(create_roles, remove_roles)]
