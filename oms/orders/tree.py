"""Loading and changing an order tree inside one command's transaction.

Every command that touches a tree locks the tree's root row first (SELECT ... FOR UPDATE, rows
ordered by kind so Client < Market < Slice), so commands on one tree run one at a time while
different trees run in parallel; with one lock order there are no deadlocks. On an optimistic
first attempt (`uow.optimistic`) the order, its parent and its root come from the cache of
committed states when all three are there (else from their rows, unlocked), and the unit of work
checks their versions in its write pipeline, taking the row locks in the same order; a ClOrdID
claim goes into that pipeline too. A change to an
order is propagated up: its parent gets a `ChildOrderUpdated` event with the deltas (cumQty,
grossTradeAmt, placedQty, working children, allocation at the root), and a parent whose cancel
was waiting for its children is cancelled when the last one stops working.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from decimal import Decimal
from typing import Any

from django.db import connection

from oms.core import ambient, sql
from oms.core.errors import NotFound
from oms.core.events import Event
from oms.core.eventstore import UnitOfWork
from oms.core.statecache import CACHE
from oms.orders import state as order_state
from oms.orders.events import ChildOrderUpdated, OrderCanceled
from oms.orders.models import Order
from oms.orders.repository import ORDER, lock_rank
from oms.orders.state import ZERO, OrderState

Z = Decimal(0)

# The order, its parent and its root, locked in one lock order (Client < Market < Slice) so two
# commands on one tree queue on the root instead of deadlocking. SQLite serializes writers anyway.
_LOCK_SELECT = (
    "SELECT doc FROM orders WHERE order_id IN ("
    "SELECT order_id FROM orders WHERE order_id = %s "
    "UNION SELECT root_id FROM orders WHERE order_id = %s "
    "UNION SELECT parent_id FROM orders WHERE order_id = %s) ORDER BY kind"
)
_LOCK_SQL = {True: _LOCK_SELECT + " FOR UPDATE", False: _LOCK_SELECT}
# whole trees at once (the kill switch): every order of each root, roots in id order, each tree
# root first, the same lock order as above
_TREES_SELECT = "SELECT doc FROM orders WHERE root_id IN ({}) ORDER BY root_id, kind"
_TREES_CHUNK = 500  # bound parameters per statement (SQLite's limit is far above, PostgreSQL's too)
_RESERVE_SQL = "INSERT INTO order_cl_ord_ids (cl_ord_id, order_id, fingerprint) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING"


def new_id(prefix: str) -> str:
    """Opaque, unique and roughly time-ordered (helps humans and B-tree locality); through
    `ambient.unique` so that a replayed session gets the ids the original got."""
    return ambient.unique(lambda: f"{prefix}{int(time.time() * 1000):011x}{secrets.token_hex(5)}")


class OrderTree:
    """The orders of one tree that a command reads or changes, keyed by orderId."""

    def __init__(self, uow: UnitOfWork):
        self.uow = uow
        self.orders: dict[str, OrderState] = {}
        # parent id -> its children's ids, for the trees loaded whole (lock_trees): no query needed
        self._children: dict[str, list[str]] = {}
        self._whole: set[str] = set()  # root ids loaded whole
        # (clOrdID, orderId) held for one multi-row INSERT (flush_reservations); None: at once
        self._deferred: list[tuple[str, str]] | None = None

    # --- loading -----------------------------------------------------------------------------
    def lock(self, order_id: str, *, field: str = "orderId") -> OrderState:
        """Load `order_id` with its parent and root in one statement, locking them root first
        (optimistically: from the cache, or unlocked, the versions checked at commit)."""
        uow = self.uow
        if uow.optimistic:
            cached = _cached_tree(order_id)
            if cached is not None:
                for state in cached:
                    self.orders[state.order_id] = state
                    uow.read(ORDER, state.order_id, state, cached=True)
                return self.orders[order_id]
        locking = connection.vendor == "postgresql" and not uow.optimistic
        for (doc,) in sql.fetch_all(_LOCK_SQL[locking], [order_id] * 3):
            state = order_state.from_api(sql.json_value(doc))
            self.orders[state.order_id] = state
            uow.read(ORDER, state.order_id, state)
        if order_id not in self.orders:
            raise NotFound(f"order {order_id} not found", fields={field: [f"No order '{order_id}'."]})
        return self.orders[order_id]

    def lock_trees(self, root_ids: list[str]) -> None:
        """Lock and load whole trees, in root id order: one statement per 500 roots instead of a
        lock and a children query per order (a kill switch over thousands of orders)."""
        roots = sorted(set(root_ids) - self._whole)
        suffix = " FOR UPDATE" if connection.vendor == "postgresql" else ""
        loaded: list[OrderState] = []
        for i in range(0, len(roots), _TREES_CHUNK):
            chunk = roots[i : i + _TREES_CHUNK]
            statement = _TREES_SELECT.format(", ".join(["%s"] * len(chunk))) + suffix
            for (doc,) in sql.fetch_all(statement, chunk):
                state = order_state.from_api(sql.json_value(doc))
                self.orders.setdefault(state.order_id, state)
                loaded.append(state)
        for state in sorted(loaded, key=lambda o: (o.created_at, o.order_id)):
            if state.parent_id is not None:
                self._children.setdefault(state.parent_id, []).append(state.order_id)
        self._whole.update(roots)

    def children(self, order_id: str) -> list[OrderState]:
        """Children of an order in this tree (the root lock is already held; optimistically, each
        child's version is checked at commit, and a new child changes the parent's version)."""
        known = self.orders.get(order_id)
        if known is not None and known.root_id in self._whole:
            return [self.orders[child] for child in self._children.get(order_id, [])]
        out = []
        for row in Order.objects.filter(parent_id=order_id).order_by("created_at", "order_id"):
            known = self.orders.get(row.order_id)
            if known is None:
                known = self.orders[row.order_id] = ORDER.from_row(row)
                self.uow.read(ORDER, known.order_id, known)
            out.append(known)
        return out

    def get(self, order_id: str) -> OrderState:
        return self.orders[order_id]

    # --- changing ----------------------------------------------------------------------------
    def emit(
        self,
        order: OrderState | None,
        event: Event,
        *,
        order_id: str | None = None,
        allocated_delta: Decimal = Z,
        occurred_at: dt.datetime | None = None,
    ) -> OrderState:
        """Apply an event to one order and reflect the change on its ancestors."""
        oid = order.order_id if order is not None else order_id
        assert oid is not None
        new = self.uow.emit(ORDER, oid, order, event, occurred_at=occurred_at)
        self.orders[oid] = new
        self._propagate(order, new, allocated_delta)
        return new

    def _propagate(self, before: OrderState | None, after: OrderState, allocated_delta: Decimal) -> None:
        if after.parent_id is None:
            return
        parent = self.orders[after.parent_id]
        cum_delta = after.cum_qty - (before.cum_qty if before else ZERO)
        gross_delta = after.gross_trade_amt - (before.gross_trade_amt if before else ZERO)
        placed_delta = committed(after) - (committed(before) if before else ZERO)
        working_delta = int(after.is_working) - int(before.is_working if before else False)
        at_root = parent.parent_id is None
        alloc = allocated_delta if at_root else Z
        if not (cum_delta or gross_delta or placed_delta or working_delta or alloc):
            return
        self.emit(
            parent,
            ChildOrderUpdated(
                child_id=after.order_id,
                child_status=after.status,
                cum_qty_delta=cum_delta,
                gross_trade_amt_delta=gross_delta,
                placed_qty_delta=placed_delta,
                working_children_delta=working_delta,
                allocated_qty_delta=alloc,
            ),
            allocated_delta=Z if at_root else allocated_delta,
        )
        parent = self.orders[after.parent_id]
        if (
            parent.pending_cancel is not None
            and parent.pending_cancel.get("cascade")
            and parent.working_children == 0
        ):
            # the last working child is done: the parent's cancel completes
            self.emit(parent, OrderCanceled(text=parent.pending_cancel.get("text")))

    def reserve_cl_ord_id(self, cl_ord_id: str, order_id: str, fingerprint: str = "") -> bool:
        """Claim a ClOrdID for an order; False when it is already taken (nothing written then).

        Optimistically the claim joins the write pipeline and answers True: a taken ClOrdID fails
        the commit, and the locked retry answers False here (a duplicate or a conflict, as ever)."""
        if self._deferred is not None and not fingerprint:
            self._deferred.append((cl_ord_id, order_id))
            return True
        if self.uow.optimistic:
            self.uow.claim(_RESERVE_SQL, [cl_ord_id, order_id, fingerprint])
            return True
        return sql.execute(_RESERVE_SQL, [cl_ord_id, order_id, fingerprint]) == 1

    def defer_reservations(self) -> None:
        """Hold the ClOrdIDs the OMS generates itself (`new_id`: unique by construction) for one
        INSERT per 500 at `flush_reservations`, instead of a round trip each (the kill switch)."""
        self._deferred = []

    def flush_reservations(self) -> None:
        held, self._deferred = self._deferred or [], None
        for i in range(0, len(held), _TREES_CHUNK):
            chunk = held[i : i + _TREES_CHUNK]
            rows = ", ".join(["(%s, %s, '')"] * len(chunk))
            statement = f"INSERT INTO order_cl_ord_ids (cl_ord_id, order_id, fingerprint) VALUES {rows}"
            # no ON CONFLICT: a clash (never expected) fails the command, rolled back and retried
            sql.execute(statement, [v for pair in chunk for v in pair])

    def send_reserve(self, cl_ord_id: str, order_id: str, fingerprint: str) -> Any:
        """`reserve_cl_ord_id` in two halves, so that inside a pipeline the claim goes out with
        other statements (a new order's pre-trade reads); `reserved(cursor)` is its answer."""
        cur = connection.cursor()
        cur.execute(_RESERVE_SQL, [cl_ord_id, order_id, fingerprint])
        return cur

    @staticmethod
    def reserved(cur: Any) -> bool:
        try:
            return bool(cur.rowcount == 1)
        finally:
            cur.close()


def cached_order(order_id: str) -> OrderState | None:
    """The order's last committed state this process knows, for what never changes in an order's
    life (its account, symbol, side): a guess at the rest, which only `lock` may decide on."""
    return CACHE.get(ORDER.name, order_id)


def _cached_tree(order_id: str) -> list[OrderState] | None:
    """The order, its parent and its root from the cache, root first; None unless all are there."""
    order = CACHE.get(ORDER.name, order_id)
    if order is None:
        return None
    tree = [order]
    for other_id in {order.parent_id, order.root_id} - {None, order_id}:
        other = CACHE.get(ORDER.name, other_id)
        if other is None:
            return None
        tree.append(other)
    return sorted(tree, key=lock_rank)


def committed(s: OrderState) -> Decimal:
    """Quantity an order holds of its parent: while open its orderQty (or a pending larger one)."""
    if not s.is_open:
        return s.cum_qty
    if s.pending_replace and s.pending_replace.get("orderQty") is not None:
        return max(s.order_qty, Decimal(s.pending_replace["orderQty"]), s.cum_qty)
    return max(s.order_qty, s.cum_qty)
