"""The console's four roles as Django groups with their permissions and adjustment limits."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

from solde.backoffice.roles import DEFAULT_LIMITS, ROLES


def create_roles(apps, schema_editor):
    # Permissions are normally created after all migrations: make this app's exist now.
    config = apps.get_app_config("backoffice")
    config.models_module = True  # a migration's app stub: create_permissions checks it
    create_permissions(config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    AdjustmentLimit = apps.get_model("backoffice", "AdjustmentLimit")
    for name, codenames in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        perms = Permission.objects.filter(
            content_type__app_label="backoffice", codename__in=codenames
        )
        group.permissions.add(*perms)
        if name in DEFAULT_LIMITS:
            AdjustmentLimit.objects.get_or_create(
                group=group, dso=None, defaults={"limit_cents": DEFAULT_LIMITS[name]}
            )


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=list(ROLES)).delete()


class Migration(migrations.Migration):
    dependencies = [("backoffice", "0001_console"), ("auth", "0012_alter_user_first_name_max_length")]
    operations = [migrations.RunPython(create_roles, remove_roles)]
