# The execution document gained `allowedActions` (the desk actions its state machine allows).
from django.db import migrations

from oms.core.doc_upgrade import add_document_field


def _allowed(doc):
    from executions.actions import execution_allowed_actions
    from executions.state import from_api

    return execution_allowed_actions(from_api(doc))


class Migration(migrations.Migration):
    dependencies = [("executions", "0002_exec_id_index")]
    operations = [add_document_field("executions", "Execution", "allowedActions", _allowed)]
