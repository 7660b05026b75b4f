# The order document gained `allowedActions` (the desk actions the transition tables allow).
from django.db import migrations

from oms.core.doc_upgrade import add_document_field


def _allowed(doc):
    from oms.orders.actions import order_allowed_actions
    from oms.orders.state import from_api

    return order_allowed_actions(from_api(doc))


class Migration(migrations.Migration):
    dependencies = [("orders", "0002_drop_status_index")]
    operations = [add_document_field("orders", "Order", "allowedActions", _allowed)]
