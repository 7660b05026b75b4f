# `allowedActions` no longer offers the desk the venue's reports (accept, fill, confirmCancel, ...)
# on a market order or slice at a venue whose adapter reports it (SIM, ccxt:*): the handlers refuse
# them 409 `venue_reports_only`. The state rows written before say it again, derived from the
# document and the venue registry as the write path now does (`replay --verify` stays clean: a
# derived field is not damage).
from django.db import migrations


def forward(apps, schema_editor):
    from oms.orders.actions import order_allowed_actions
    from oms.orders.state import from_api

    Order = apps.get_model("orders", "Order")
    batch = []
    rows = Order.objects.exclude(doc__kind="Client").only("pk", "doc").iterator(chunk_size=2000)
    for row in rows:
        doc = row.doc
        if not isinstance(doc, dict) or "allowedActions" not in doc:
            continue
        allowed = order_allowed_actions(from_api(doc))
        if doc["allowedActions"] != allowed:
            row.doc = {**doc, "allowedActions": allowed}
            batch.append(row)
        if len(batch) >= 2000:
            Order.objects.bulk_update(batch, ["doc"])
            batch = []
    if batch:
        Order.objects.bulk_update(batch, ["doc"])


class Migration(migrations.Migration):
    # the venue registry (rules) answers which venues an adapter reports
    dependencies = [("orders", "0005_doc_allowed_actions_no_fill_before_ack"), ("rules", "0008_rules_move_reference_version")]
    operations = [migrations.RunPython(forward, migrations.RunPython.noop, elidable=True)]
