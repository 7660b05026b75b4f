# `allowedActions` no longer offers the desk the venue's reports (accept, fill, confirmCancel, ...)
# on a market order or slice at a venue whose adapter reports it (SIM, ccxt:*): the handlers refuse
# them 409 `venue_reports_only`. The state rows written before say it again, derived from the
# document and the venue registry as the write path now does (`replay --verify` stays clean: a
# derived field is not damage).
from django.db import migrations

from oms.core.doc_upgrade import refresh_document_field


def _allowed(doc):
    from oms.orders.actions import order_allowed_actions
    from oms.orders.state import from_api

    return order_allowed_actions(from_api(doc))


class Migration(migrations.Migration):
    # the venue registry (rules) answers which venues an adapter reports
    dependencies = [("orders", "0005_doc_allowed_actions_no_fill_before_ack"), ("rules", "0008_rules_move_reference_version")]
    operations = [
        refresh_document_field(
            "orders", "Order", "allowedActions", _allowed, doc__kind__in=["Market", "Slice"]
        )
    ]
