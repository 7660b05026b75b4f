"""The blotter's desk forms: one generic command form (`base`), the actions declared on it for
orders and executions (`orders`) and for quote requests and quotes (`rfq`).

`ACTIONS` maps each action (the URL's `<action>` in /blotter/forms/<action>/) to its form class.
"""

from __future__ import annotations

from blotter.forms.base import TOKEN_RE, CommandForm, desk_form, generated_id, new_token, reference_price
from blotter.forms.orders import ACTIONS as ORDER_ACTIONS
from blotter.forms.rfq import RFQ_ACTIONS

ACTIONS: dict[str, type[CommandForm]] = {**ORDER_ACTIONS, **RFQ_ACTIONS}

__all__ = [
    "ACTIONS",
    "ORDER_ACTIONS",
    "RFQ_ACTIONS",
    "TOKEN_RE",
    "CommandForm",
    "desk_form",
    "generated_id",
    "new_token",
    "reference_price",
]
