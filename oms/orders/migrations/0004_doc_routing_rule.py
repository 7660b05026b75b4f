# The order document gained `routingRule` and `routingRuleVersion` (the data rule that routed a
# client order). Orders created before rules were data record none: null, as replay writes them.
from django.db import migrations

from oms.core.doc_upgrade import add_document_field


class Migration(migrations.Migration):
    dependencies = [("orders", "0003_doc_allowed_actions")]
    operations = [
        add_document_field("orders", "Order", "routingRule", lambda doc: None),
        add_document_field("orders", "Order", "routingRuleVersion", lambda doc: None),
    ]
