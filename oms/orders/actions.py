"""Which desk actions an order takes in its current state: asked of the transition tables.

`order_allowed_actions(order)` is what the order document carries as `allowedActions`, and what
the blotter enables its buttons, menus and forms from; there is no second list of statuses in
the UI. Pure: no Django, so the same function runs in replay, in tests and live.

An action is allowed when the order's transition table has the (status, trigger) pair and the
handler's guards that look beneath the pending overlays hold (was the order acknowledged? is a
replace pending? do children still work?). Guards on the command's own values (a quantity that
exceeds the parent, a replace below what the children hold) are judged by the handler when the
command arrives: an allowed action can still be refused for its values, never for the state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from oms.core.fsm import StateMachine
from oms.orders.enums import Kind, OrdStatus, Phase
from oms.orders.transitions import CLIENT_ORDER, VENUE_ORDER, Trigger

if TYPE_CHECKING:
    from oms.orders.state import OrderState

# the action's name in `allowedActions` for each trigger of the tables, in the order the desk
# reads them
ACTION_OF_TRIGGER: dict[Trigger, str] = {
    Trigger.PLACE_CHILD: "place",
    Trigger.CANCEL: "cancel",
    Trigger.REPLACE: "replace",
    Trigger.ACCEPT: "accept",
    Trigger.REJECT: "reject",
    Trigger.CANCEL_CONFIRM: "confirmCancel",
    Trigger.CANCEL_REJECT: "rejectCancel",
    Trigger.REPLACE_CONFIRM: "confirmReplace",
    Trigger.REPLACE_REJECT: "rejectReplace",
    Trigger.EXPIRE: "expire",
    Trigger.DONE_FOR_DAY: "doneForDay",
    Trigger.RESTATE: "restate",
}
FILL = "fill"  # an execution (ExecuteOrderCommand) on the order: not a trigger of the order tables

ORDER_ACTIONS: tuple[str, ...] = (*ACTION_OF_TRIGGER.values(), FILL)

# The venue's reports on an order the OMS sends through an adapter (SIM, ccxt:*) come from that
# adapter only: the handlers refuse them from a person with 409 `venue_reports_only`
# (oms/orders/reporters.py), so the document must not offer them. `place` goes too: a slice of a
# market order the OMS sent would put its quantity at the venue twice (refused 400).
VENUE_REPORTS: frozenset[str] = frozenset(
    {*(a for t, a in ACTION_OF_TRIGGER.items() if t not in (Trigger.CANCEL, Trigger.REPLACE)), FILL}
)

# venue -> does its adapter report its orders? The answer lives in the venue registry (a database
# read); this module stays pure, so the orders app installs the registry's predicate at start-up
# (OrdersConfig.ready: rules.venues.sent_by_adapter) and a pure test runs without one.
_sent_by_adapter: list[Callable[[str | None], bool]] = []


def use_adapter_venues(predicate: Callable[[str | None], bool] | None) -> None:
    _sent_by_adapter[:] = [] if predicate is None else [predicate]


def reported_by_adapter(order: OrderState) -> bool:
    """A market order or slice at a venue whose adapter reports it (client orders are the OMS's
    own, whatever their venue)."""
    return order.kind is not Kind.CLIENT and bool(_sent_by_adapter) and _sent_by_adapter[0](order.venue)


def machine_for(kind: Kind) -> StateMachine[OrdStatus, Trigger]:
    """Client orders have the OMS as counterparty; market orders and slices are driven by a venue."""
    return CLIENT_ORDER if kind is Kind.CLIENT else VENUE_ORDER


def transition_status(order: OrderState) -> OrdStatus:
    """The status the transition tables judge a command by.

    The reported status ranks Filled above Canceled/Expired (FIX precedence): an order the venue
    canceled and a late fill then completed reports Filled. But it is finished, not a working
    filled order, so "increase a filled order's quantity" (C.1.c) and the other Filled
    transitions must not apply to it: judge it as what it is underneath.
    """
    status = order.status
    if status is OrdStatus.FILLED and order.phase in (Phase.CANCELED, Phase.EXPIRED):
        return OrdStatus(order.phase.value)
    return status


# The handlers' guards that depend on the order's state alone (oms/orders/services.py, oms/orders/reports.py), by trigger;
# a trigger without one is allowed whenever its table has it.
def _unacknowledged(order: OrderState) -> bool:
    # B.1.e: under a PendingCancel overlay only an order the venue has not acknowledged yet can
    # be accepted (the acknowledgement crosses the cancel request) or rejected
    return order.phase is Phase.PENDING_NEW


def _rejectable(order: OrderState) -> bool:
    if order.kind is Kind.CLIENT:  # the desk refuses only a client order it has not worked
        return order.placed_qty == 0 and order.cum_qty == 0
    return order.phase is Phase.PENDING_NEW


def _no_replace_pending(order: OrderState) -> bool:
    return order.pending_replace is None  # one replace at a time (409 replace_pending)


def _replace_pending(order: OrderState) -> bool:
    return order.pending_replace is not None


def _no_working_children(order: OrderState) -> bool:
    return order.working_children == 0  # a parent stops working only after its children


def _room_for_a_child(order: OrderState) -> bool:
    # a slice has no children; a child never exceeds what its parent has left to place
    return order.kind is not Kind.SLICE and order.placed_qty < order.order_qty


GUARDS: dict[Trigger, Callable[[OrderState], bool]] = {
    Trigger.ACCEPT: _unacknowledged,
    Trigger.REJECT: _rejectable,
    Trigger.REPLACE: _no_replace_pending,
    Trigger.REPLACE_CONFIRM: _replace_pending,
    Trigger.REPLACE_REJECT: _replace_pending,
    Trigger.EXPIRE: _no_working_children,
    Trigger.DONE_FOR_DAY: _no_working_children,
    Trigger.CANCEL_CONFIRM: _no_working_children,
    Trigger.PLACE_CHILD: _room_for_a_child,
}

Candidates = tuple[tuple[str, "Callable[[OrderState], bool] | None"], ...]


def _table_actions(machine: StateMachine[OrdStatus, Trigger]) -> dict[OrdStatus, Candidates]:
    """(action, guard) pairs the table has for each status, read from the table once: a document
    written pays for the guards only (to_api runs for every event's state)."""
    return {
        status: tuple((a, GUARDS.get(t)) for t, a in ACTION_OF_TRIGGER.items() if machine.can(status, t))
        for status in OrdStatus
    }


_BY_KIND = {kind: _table_actions(machine_for(kind)) for kind in Kind}


def order_allowed_actions(order: OrderState) -> list[str]:
    """The desk actions the transition table (and the state's guards) allow now, e.g.
    `["cancel", "replace", "confirmCancel", "expire", "doneForDay", "restate", "fill"]`."""
    candidates = _BY_KIND[order.kind][transition_status(order)]
    allowed = [action for action, guard in candidates if guard is None or guard(order)]
    # the desk types in a fill only on a venue order the venue has accepted and that still works.
    # Before the acknowledgement (PendingNew) the desk has no execution to report: a venue that
    # fills before its ack (the two crossed, or the ack was lost) sends the fill through its adapter,
    # and ExecuteOrderCommand still applies it there (a fill implies the accept, state.py), so no
    # fill is ever lost. A late fill on a finished order (Appendix D) comes from the adapter too.
    if order.kind is not Kind.CLIENT and order.is_working and order.phase is Phase.OPEN:
        allowed.append(FILL)
    if allowed and reported_by_adapter(order):
        return [action for action in allowed if action not in VENUE_REPORTS]
    return allowed
