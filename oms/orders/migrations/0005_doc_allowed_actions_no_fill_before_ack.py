# `allowedActions` no longer offers the desk a fill on an order the venue has not accepted
# (PendingNew): the state rows written before say it again, derived from the document alone as
# replay would (`replay --verify` stays clean). Events keep what was derived when they were
# written (oms.core.replay does not count a derived field as damage).
from django.db import migrations

from oms.core.doc_upgrade import refresh_document_field


def _allowed(doc):
    from oms.orders.actions import order_allowed_actions
    from oms.orders.state import from_api

    return order_allowed_actions(from_api(doc))


class Migration(migrations.Migration):
    dependencies = [("orders", "0004_doc_routing_rule")]
    operations = [
        refresh_document_field("orders", "Order", "allowedActions", _allowed, doc__phase="PendingNew")
    ]
