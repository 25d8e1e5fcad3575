"""Indexes for the console's search box.

PostgreSQL: pattern indexes for identifier prefixes (EAN, customer reference, meter serial,
postcode) and trigram indexes (pg_trgm) for names, addresses and e-mails, on the UPPER(...)
expressions Django's case-insensitive lookups compare. SQLite (the embedded demo): plain
indexes for the exact contact lookups; its fleet is small enough to scan."""

from django.db import migrations

PG = [
    ("console_sp_ean_prefix", "registry_supplypoint", "(ean varchar_pattern_ops)"),
    ("console_sp_ref_prefix", "registry_supplypoint", "(customer_reference varchar_pattern_ops)"),
    ("console_sp_postcode", "registry_supplypoint", "(postcode varchar_pattern_ops)"),
    ("console_meter_serial_prefix", "registry_meter", "(serial varchar_pattern_ops)"),
    ("console_customer_phone", "registry_customer", "(phone)"),
    # Django's iexact / istartswith compare UPPER(col::text) = / LIKE 'X%': a pattern btree.
    ("console_customer_email_upper", "registry_customer", "(UPPER(email::text) text_pattern_ops)"),
    ("console_customer_last_upper", "registry_customer", "(UPPER(last_name::text) text_pattern_ops)"),
    (
        "console_customer_first_upper",
        "registry_customer",
        "(UPPER(first_name::text) text_pattern_ops)",
    ),
    ("console_meter_serial_upper", "registry_meter", "(UPPER(serial::text))"),
]
PG_TRGM = [
    ("console_customer_last_trgm", "registry_customer", "last_name"),
    ("console_customer_first_trgm", "registry_customer", "first_name"),
    ("console_customer_email_trgm", "registry_customer", "email"),
    ("console_sp_street_trgm", "registry_supplypoint", "street"),
    ("console_sp_city_trgm", "registry_supplypoint", "city"),
]
SQLITE = [
    ("console_customer_phone", "registry_customer", "(phone)"),
    ("console_customer_email", "registry_customer", "(email)"),
]


def create(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    with schema_editor.connection.cursor() as cur:
        if vendor == "postgresql":
            cur.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            for name, table, expr in PG:
                cur.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} {expr}")
            for name, table, column in PG_TRGM:
                cur.execute(
                    f"CREATE INDEX IF NOT EXISTS {name} ON {table} "
                    f"USING gin (UPPER({column}::text) gin_trgm_ops)"
                )
        elif vendor == "sqlite":
            for name, table, expr in SQLITE:
                cur.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} {expr}")


def drop(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    names = [n for n, _, _ in PG + PG_TRGM] if vendor == "postgresql" else [n for n, _, _ in SQLITE]
    with schema_editor.connection.cursor() as cur:
        for name in names:
            cur.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("backoffice", "0002_roles"), ("registry", "0002_dsos")]
    operations = [migrations.RunPython(create, drop)]
