"""What replay rebuilds for orders besides the state table: the ClOrdID index.

Every ClOrdID the OMS accepted is in an order event: the order's own in `OrderCreated` (with the
fingerprint of the create command), a cancel's in `OrderCancelRequested` (or in `OrderCanceled`
when a client order is cancelled at once, and for the clOrdIDs generated for children cancelled
by a cascade), a replace's in `OrderReplaceRequested` (or `OrderReplaced` for client orders).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from oms.core.fold import Envelope
from oms.core.replay import DerivedIndex, register_index
from oms.orders.models import ClOrdIdKey


def cl_ord_id_rows(env: Envelope) -> Iterator[tuple[str, dict[str, Any]]]:
    cl_ord_id = env.data.get("clOrdID")
    if cl_ord_id:
        fingerprint = (env.data.get("fingerprint") or "") if env.type == "OrderCreated" else ""
        yield cl_ord_id, {"order_id": env.aggregate_id, "fingerprint": fingerprint}


CL_ORD_IDS = register_index(
    DerivedIndex(
        name="order_cl_ord_ids",
        aggregate="order",
        model=ClOrdIdKey,
        fields=("order_id", "fingerprint"),
        rows=cl_ord_id_rows,
    )
)
