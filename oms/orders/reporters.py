"""Who may report on an order: the venue's adapter for an order at a venue with one, the desk for
the others (MANUAL: a care order worked by phone, whose reports the desk types in).

The venue's adapter reports through the command bus as `system:venue:<VENUE>` (oms.venues.reports)
and the OMS's other jobs (expiry, reconciliation) as `system:<job>`: a ':' cannot be part of a
username, so no login passes for them. One guard, called by every venue-report handler (the order
reports here and the executions' trade, correction and bust), so the refusal is the same 409
whichever form or endpoint the desk used.
"""

from __future__ import annotations

from oms.core.eventstore import UnitOfWork
from oms.orders.enums import Kind
from oms.orders.errors import VenueReportsOnly
from oms.orders.state import OrderState
from rules.actors import SYSTEM_PREFIX
from rules.venues import sent_by_adapter


def require_venue_reporter(uow: UnitOfWork, order: OrderState | None, venue: str | None = None) -> None:
    """Refuse a person's report on a venue order the OMS sent itself (`order`: a market order or a
    slice at an adapter venue) or of a trade at such a venue (`venue`, an execution's). Client
    orders are the OMS's own (it is the client's counterparty): the desk still rejects, expires or
    restates them."""
    if uow.ctx.actor.startswith(SYSTEM_PREFIX):
        return
    if order is not None and order.kind is not Kind.CLIENT and sent_by_adapter(order.venue, uow):
        raise VenueReportsOnly(
            f"order {order.order_id} is at {order.venue}, whose adapter reports it: "
            "the desk does not enter its reports",
            fields={"orderId": [f"Reported by the {order.venue} adapter only."]},
        )
    if venue and (order is None or venue != order.venue) and sent_by_adapter(venue, uow):
        raise VenueReportsOnly(
            f"trades at {venue} are reported by its adapter: the desk does not enter them",
            fields={"venue": [f"Reported by the {venue} adapter only."]},
        )
