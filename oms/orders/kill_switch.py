"""The kill switch: `CancelAllCommand` (`scope`, `key`) on `controls` cancels every working order
in scope through the ordinary cancel path, in one transaction, and answers what it canceled.

It lives with the orders (rules knows no order): rules.controls declares the command and keeps
its record (`CancelAllExecuted` on control-events); this handler selects and cancels.

What "in scope" means, per order (any kind: client orders, market orders, slices):
- global: every working order; account, symbol: the orders of that account or symbol; a symbol
  key `VENUE:SYMBOL`: that symbol at that venue;
- venue: the orders AT that venue: client orders routed there (with their children), and market
  orders and slices there whose client order is elsewhere or venue-less. Such a client order
  stays working: the kill switch pulls the street side; the desk decides what the client's order
  does next (re-route it, or cancel it too).
Each order is cancelled as a CancelOrderCommand would: a client order with working children
becomes PendingCancel and its children are cancelled first; a client order without is Canceled
at once (the OMS is the client's counterparty); a market order or slice becomes PendingCancel:
the venue's worker sends the cancel (an adapter venue), or the desk confirms it once the broker
has (MANUAL: ConfirmCancelCommand, the existing desk flow). Nothing is marked Canceled that the
venue has not confirmed: a fill may still arrive, and the position must count it.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from oms.core.dispatch import Outcome, command_handler
from oms.core.eventstore import UnitOfWork
from oms.orders.actions import machine_for, transition_status
from oms.orders.enums import WORKING_STATUSES, Kind, OrdStatus
from oms.orders.models import Order
from oms.orders.repository import ORDER
from oms.orders.services import cancel_in_tree
from oms.orders.transitions import Trigger
from oms.orders.tree import OrderTree
from rules.actors import require_desk
from rules.controls import CANCEL_ALL, TOPIC, CancelAllCommand, scope_key
from rules.enums import ControlScope
from rules.records import new_id

_DEPTH = {Kind.CLIENT.value: 0, Kind.MARKET.value: 1, Kind.SLICE.value: 2}


def orders_in_scope(scope: ControlScope, key: str) -> QuerySet[Order]:
    rows = Order.objects.filter(status__in=[s.value for s in WORKING_STATUSES])
    if scope is ControlScope.VENUE:
        return rows.filter(venue=key)
    if scope is ControlScope.ACCOUNT:
        return rows.filter(account=key)
    if scope is ControlScope.SYMBOL:
        # "VENUE:SYMBOL" or a bare symbol; both venue names and symbols may hold ':' (ccxt's
        # "BTC/USDT:USDT"), so every split is tried rather than guessing one
        q = Q(symbol=key)
        for i, ch in enumerate(key):
            if ch == ":":
                q |= Q(venue=key[:i], symbol=key[i + 1 :])
        return rows.filter(q)
    return rows


@command_handler(TOPIC, CancelAllCommand)
def cancel_all(
    uow: UnitOfWork, *, scope: ControlScope, key: str | None = None, reason: str | None = None
) -> Outcome:
    require_desk(uow.ctx.actor, "cancel all orders")
    stored_key = scope_key(scope, key)
    selected = list(orders_in_scope(scope, stored_key).values_list("order_id", "root_id", "kind"))
    tree = OrderTree(uow)
    # lock every tree first, whole and in root order: two kill switches at once cannot deadlock
    tree.lock_trees([root for _order, root, _kind in selected])
    tree.defer_reservations()
    before = {oid: s.version for oid, s in tree.orders.items()}
    text = f"cancel all ({scope.value} {stored_key})" + (f": {reason}" if reason else "")
    skipped: list[dict[str, str]] = []
    # parents first: a client order's cancel covers its children (they are then pending already)
    for order_id, _root, _kind in sorted(selected, key=lambda r: (_DEPTH[r[2]], r[1], r[0])):
        order = tree.get(order_id)
        if order.pending_cancel is not None:
            if before.get(order_id) == order.version:  # pending before this command: not ours
                skipped.append(
                    {"orderId": order_id, "status": order.status.value, "why": "cancel already pending"}
                )
            continue
        if not order.is_working:
            continue  # finished by a cancel above it (a client order canceled with its children)
        if not machine_for(order.kind).can(transition_status(order), Trigger.CANCEL):
            skipped.append({"orderId": order_id, "status": order.status.value, "why": "not cancelable now"})
            continue
        cancel_in_tree(tree, order, text)
    tree.flush_reservations()
    canceled, requested = [], []
    for state in sorted(uow.changed(ORDER), key=lambda s: s.order_id):
        if state.status is OrdStatus.CANCELED:
            canceled.append(state.order_id)
        elif state.pending_cancel is not None:
            requested.append(state.order_id)
    data = {
        "scope": scope.value,
        "key": stored_key,
        "reason": reason,
        "canceled": canceled,
        "cancelRequested": requested,
        "skipped": skipped,
    }
    record = uow.emit(CANCEL_ALL, new_id("KS"), None, "CancelAllExecuted", data)
    return Outcome({"cancelAll": CANCEL_ALL.to_api(record)}, 200)
