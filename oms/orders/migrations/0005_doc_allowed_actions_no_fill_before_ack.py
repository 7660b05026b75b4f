# `allowedActions` no longer offers the desk a fill on an order the venue has not accepted
# (PendingNew): the state rows written before say it again, derived from the document alone as
# replay would (`replay --verify` stays clean). Events keep what was derived when they were
# written (oms.core.replay does not count a derived field as damage).
from django.db import migrations


def forward(apps, schema_editor):
    from oms.orders.actions import order_allowed_actions
    from oms.orders.state import from_api

    Order = apps.get_model("orders", "Order")
    batch = []
    for row in Order.objects.filter(doc__phase="PendingNew").only("pk", "doc").iterator(chunk_size=2000):
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
    dependencies = [("orders", "0004_doc_routing_rule")]
    operations = [migrations.RunPython(forward, migrations.RunPython.noop, elidable=True)]
