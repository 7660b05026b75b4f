# Quote request and quote documents gained `allowedActions` (the desk actions their tables allow).
from django.db import migrations

from oms.core.doc_upgrade import add_document_field


def _request_allowed(doc):
    from oms.quotes.actions import request_allowed_actions
    from oms.quotes.state import request_from_api

    return request_allowed_actions(request_from_api(doc))


def _quote_allowed(doc):
    from oms.quotes.actions import quote_allowed_actions
    from oms.quotes.state import quote_from_api

    return quote_allowed_actions(quote_from_api(doc))


class Migration(migrations.Migration):
    dependencies = [("quotes", "0001_initial")]
    operations = [
        add_document_field("quotes", "QuoteRequest", "allowedActions", _request_allowed),
        add_document_field("quotes", "Quote", "allowedActions", _quote_allowed),
    ]
