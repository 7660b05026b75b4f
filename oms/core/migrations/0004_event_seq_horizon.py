"""PostgreSQL: the global seq from a SEQUENCE read below a horizon (oms/core/sequence.py), so
concurrent commits no longer queue on the counter row. It continues where the row stopped; going
back moves the row to where the sequence stopped. SQLite keeps the row: nothing to do."""

from django.db import migrations

FORWARD = (
    "CREATE SEQUENCE IF NOT EXISTS oms_event_seq AS bigint START 1 CACHE 1",
    "SELECT setval('oms_event_seq', GREATEST(last_seq, 1), last_seq > 0) FROM oms_event_sequence WHERE id = 1",
)
BACKWARD = (
    "UPDATE oms_event_sequence SET last_seq = GREATEST(last_seq, s.last_value) FROM oms_event_seq s"
    " WHERE oms_event_sequence.id = 1 AND s.is_called",
    "DROP SEQUENCE IF EXISTS oms_event_seq",
)


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in FORWARD:
            schema_editor.execute(statement)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in BACKWARD:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("core", "0003_publisher_cursor")]

    operations = [migrations.RunPython(forward, backward)]
