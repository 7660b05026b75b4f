# Every write of the rules table moves the reference_version row too, like instruments and limits
# (0007): the active rule set (rules/active.py) is kept under that version, which every new order
# already reads with its clOrdID claim, so routing needs no statement of its own to know the set
# it holds is current. Triggers, not the handlers, so a replay, an admin repair or a manual UPDATE
# of a rule invalidates too.

from django.db import migrations

from oms.core.migration_sql import vendor_sql

PG_INSTALL = [
    "CREATE TRIGGER rules_reference_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rules "
    "FOR EACH STATEMENT EXECUTE FUNCTION oms_reference_changed()",
    # a process holding a set read under the current version must reload it
    "UPDATE reference_version SET version = nextval('reference_version_seq') WHERE id = 1",
]
PG_REMOVE = ["DROP TRIGGER IF EXISTS rules_reference_changed ON rules"]
SQLITE_INSTALL = [
    *(
        f"CREATE TRIGGER rules_{op.lower()}_reference_changed AFTER {op} ON rules "
        "BEGIN UPDATE reference_version SET version = random() WHERE id = 1; END"
        for op in ("INSERT", "UPDATE", "DELETE")
    ),
    "UPDATE reference_version SET version = random() WHERE id = 1",
]
SQLITE_REMOVE = [f"DROP TRIGGER IF EXISTS rules_{op.lower()}_reference_changed" for op in ("INSERT", "UPDATE", "DELETE")]


class Migration(migrations.Migration):
    dependencies = [
        ("rules", "0007_limits_cache_throttles"),
    ]

    operations = [
        vendor_sql({"postgresql": PG_INSTALL, "sqlite": SQLITE_INSTALL}, {"postgresql": PG_REMOVE, "sqlite": SQLITE_REMOVE}),
    ]
