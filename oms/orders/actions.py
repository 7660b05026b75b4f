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

from typing import TYPE_CHECKING

from oms.orders.enums import Kind, OrdStatus, Phase
from oms.orders.transitions import CLIENT_ORDER, VENUE_ORDER, Trigger

if TYPE_CHECKING:
    from oms.core.fsm import StateMachine
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


def machine_for(kind: Kind) -> StateMachine:
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


def _guard_holds(order: OrderState, trigger: Trigger) -> bool:
    """The handlers' guards that depend on the order's state only (oms/orders/services.py)."""
    if trigger is Trigger.ACCEPT:
        # B.1.e: under a PendingCancel overlay only an unacknowledged order can be accepted
        return order.phase is Phase.PENDING_NEW
    if trigger is Trigger.REJECT:
        if order.kind is Kind.CLIENT:  # the desk refuses only an order it has not worked
            return order.placed_qty == 0 and order.cum_qty == 0
        return order.phase is Phase.PENDING_NEW
    if trigger is Trigger.REPLACE:
        return order.pending_replace is None  # one replace at a time (409 replace_pending)
    if trigger in (Trigger.REPLACE_CONFIRM, Trigger.REPLACE_REJECT):
        return order.pending_replace is not None
    if trigger in (Trigger.EXPIRE, Trigger.DONE_FOR_DAY, Trigger.CANCEL_CONFIRM):
        return order.working_children == 0  # a parent stops working only after its children
    if trigger is Trigger.PLACE_CHILD:
        # a slice has no children; a child never exceeds what its parent has left to place
        return order.kind is not Kind.SLICE and order.placed_qty < order.order_qty
    return True


def order_allowed_actions(order: OrderState) -> list[str]:
    """The desk actions the transition table (and the state's guards) allow now, e.g.
    `["cancel", "replace", "confirmCancel", "expire", "doneForDay", "restate", "fill"]`."""
    machine = machine_for(order.kind)
    status = transition_status(order)
    allowed = [
        action
        for trigger, action in ACTION_OF_TRIGGER.items()
        if machine.can(status, trigger) and _guard_holds(order, trigger)
    ]
    # a venue order executes while it works; a late fill on a finished order (Appendix D) comes
    # from the venue's adapter, the desk does not type one in
    if order.kind is not Kind.CLIENT and order.is_working:
        allowed.append(FILL)
    return allowed
