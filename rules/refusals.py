"""Refusals: every order a pre-trade check or control refused, recorded as an `OrderRefused`
event on `control-events` (the desk sees it in the event feed, the blotter's stream and
`GET /api/queries/refusals`) while the order itself is never created.

The command's own transaction rolled back with the refusal; dispatch's failure hook records it
afterwards in a transaction of its own, so a refusal is written exactly when it is answered.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from pydantic import Field

from oms.core.dispatch import on_failure
from oms.core.documents import record_document
from oms.core.errors import ApplicationError
from oms.core.eventstore import AggregateType, CommandContext, UnitOfWork, register
from oms.core.readside import register_read
from oms.core.specification import Field as Criterion
from oms.core.specification import Specification
from rules.errors import CheckRefused
from rules.models import Refusal, RefusalEvent
from rules.records import Record, definition_applier, new_id

log = logging.getLogger(__name__)
CONTROL_EVENTS = "control-events"


class RefusalState(Record):
    refusal_id: str
    rule: str
    message: str
    details: dict[str, Any]
    command_type: str | None = None
    cl_ord_id: str | None = Field(None, alias="clOrdID")  # FIX 11 of the refused order
    order_id: str | None = None
    symbol: str | None = None
    side: str | None = None
    account: str | None = None
    venue: str | None = None


REFUSAL: AggregateType[RefusalState] = register(
    AggregateType(
        name="refusal",
        topic=CONTROL_EVENTS,
        state_model=Refusal,
        event_model=RefusalEvent,
        apply=definition_applier(RefusalState, "refusalId", "OrderRefused", []),
        to_api=RefusalState.to_api,
        document=record_document(RefusalState, "RefusalState"),
        from_row=lambda row: RefusalState.from_api(row.doc),
    )
)


class RefusalSpecification(Specification):
    fields = {
        "refusal_id": Criterion("refusal_id", "in", param="refusalId"),
        "rule": Criterion("rule", "in"),
        "symbol": Criterion("symbol", "in"),
        "account": Criterion("account", "in"),
        "venue": Criterion("venue", "in"),
        "created_after": Criterion("created_at", "gt", param="createdAfter", kind="datetime"),
    }
    orderings = {"createdAt": "created_at", "rule": "rule", "symbol": "symbol"}
    default_ordering = ("-created_at", "-refusal_id")
    id_column = "refusal_id"


REFUSALS = register_read(REFUSAL, path="refusals", specification=RefusalSpecification)

_ORDER_FIELDS = ("symbol", "side", "account", "venue", "orderId")


def refusal_data(topic: str, body: dict[str, Any], exc: CheckRefused) -> dict[str, Any]:
    data: dict[str, Any] = {
        "rule": exc.rule,
        "message": exc.message,
        "details": exc.details,
        "commandType": body.get("commandType"),
        "clOrdID": body.get("clOrdID"),
    }
    for key in _ORDER_FIELDS:
        data[key] = exc.details.get(key, body.get(key))
    return {k: (v if v is None or isinstance(v, dict) else str(v)) for k, v in data.items()}


@on_failure
def record_refusal(topic: str, body: dict[str, Any], actor: str, exc: ApplicationError) -> None:
    if not isinstance(exc, CheckRefused):
        return
    try:
        with transaction.atomic():
            uow = UnitOfWork(CommandContext(actor=actor, command=body))
            uow.emit(REFUSAL, new_id("RF"), None, "OrderRefused", refusal_data(topic, body, exc))
            uow.commit()
    except Exception:  # the refusal is answered whatever happens to its record
        log.exception("could not record the refusal of %s", body.get("clOrdID"))
