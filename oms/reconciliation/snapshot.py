"""The OMS's side of a reconciliation, read in a few set-wise queries (never one per order): its
working market orders at the venue, the owners of the venue's clOrdIDs, the executions of the
venue's execIDs and its positions at the venue."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any, TypeVar

from django.db.models import QuerySet

from executions.models import Execution
from oms.orders.enums import WORKING_STATUSES, Kind
from oms.orders.models import ClOrdIdKey, Order
from oms.positions.models import Position
from oms.reconciliation.balances import Holding
from oms.reconciliation.compare import OmsOrder, PositionKey
from oms.venues.models import SendAction, SendStatus, VenueSend
from rules.models import Instrument

CHUNK = 500  # ids per IN (...) list: SQLite allows 999 parameters per statement
WORKING = [s.value for s in WORKING_STATUSES]
IN_FLIGHT = (SendStatus.CLAIMED, SendStatus.RETRYING)
T = TypeVar("T")


def chunks(items: Iterable[T], size: int = CHUNK) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _oms_order(doc: dict[str, Any], in_flight: bool = False) -> OmsOrder:
    return OmsOrder(
        order_id=doc["orderId"],
        cl_ord_id=doc["clOrdID"],
        account=doc.get("account") or "",
        symbol=doc["symbol"],
        side=doc["side"],
        status=doc["status"],
        phase=doc["phase"],
        order_qty=Decimal(doc["orderQty"]),
        cum_qty=Decimal(doc["cumQty"]),
        open=doc["status"] in WORKING,
        in_flight=in_flight,
    )


def _working(venue: str) -> QuerySet[Order]:
    """The OMS's working venue orders at `venue`: market orders and slices (a slice at an adapter
    venue is sent like a market order: its market order stays at MANUAL or a desk venue)."""
    return Order.objects.filter(
        venue=venue, kind__in=(Kind.MARKET.value, Kind.SLICE.value), status__in=WORKING
    ).order_by("order_id")


def working_orders(venue: str) -> list[OmsOrder]:
    """Every working venue order at `venue` at once, by orderId (OMS_RECONCILE_CHUNK=0)."""
    return _with_flight(list(_working(venue).values_list("doc", flat=True)))


def working_pages(venue: str, size: int) -> Iterator[list[OmsOrder]]:
    """The same orders `size` at a time, keyset by orderId: each page one indexed query from the
    last id, whatever the page's number (an OFFSET would re-read every page before it)."""
    last = ""
    while True:
        rows = list(_working(venue).filter(order_id__gt=last).values_list("order_id", "doc")[:size])
        if not rows:
            return
        last = rows[-1][0]
        yield _with_flight([doc for _, doc in rows])
        if len(rows) < size:
            return


def _with_flight(docs: list[dict[str, Any]]) -> list[OmsOrder]:
    """The orders of `docs`, each marked in flight when its send has not settled."""
    flying: set[str] = set()
    for ids in chunks(d["orderId"] for d in docs):
        flying.update(
            VenueSend.objects.filter(
                # a replace in flight too: at a venue without amend it is a cancel then a new
                # order, and between the two the venue lists neither
                order_id__in=ids,
                action__in=(SendAction.PLACE, SendAction.REPLACE),
                status__in=IN_FLIGHT,
            ).values_list("order_id", flat=True)
        )
    return [_oms_order(d, d["orderId"] in flying) for d in docs]


def owners(cl_ord_ids: Iterable[str], known: Iterable[OmsOrder] = ()) -> dict[str, OmsOrder]:
    """clOrdID -> the OMS order that used it (any clOrdID an order ever had: a replaced order's
    venue clOrdID is the replacement's). `known` orders are not read again."""
    by_id = {o.order_id: o for o in known}
    out: dict[str, OmsOrder] = {}
    for o in by_id.values():
        out[o.cl_ord_id] = o
    wanted = [c for c in set(cl_ord_ids) if c and c not in out]
    pairs: list[tuple[str, str]] = []
    for ids in chunks(wanted):
        pairs.extend(ClOrdIdKey.objects.filter(pk__in=ids).values_list("cl_ord_id", "order_id"))
    missing = {order_id for _, order_id in pairs if order_id not in by_id}
    for ids in chunks(missing):
        for doc in Order.objects.filter(pk__in=ids).values_list("doc", flat=True):
            by_id[doc["orderId"]] = _oms_order(doc)
    for cl_ord_id, order_id in pairs:
        if order_id in by_id:
            out[cl_ord_id] = by_id[order_id]
    return out


def order_by_id(order_id: str) -> OmsOrder | None:
    doc = Order.objects.filter(pk=order_id).values_list("doc", flat=True).first()
    return None if doc is None else _oms_order(doc)


def booked(venue: str, exec_ids: Iterable[str]) -> dict[str, tuple[str, str]]:
    """execID -> (status, orderId) of the OMS's executions of those execIDs at `venue`."""
    out: dict[str, tuple[str, str]] = {}
    for ids in chunks(set(exec_ids)):
        for exec_id, status, order_id in Execution.objects.filter(venue=venue, exec_id__in=ids).values_list(
            "exec_id", "status", "order_id"
        ):
            out[exec_id] = (status, order_id or "")
    return out


def positions(venue: str) -> dict[PositionKey, Decimal]:
    """(account, symbol) -> the OMS's signed quantity at `venue`."""
    return {
        (account, symbol): qty
        for account, symbol, qty in Position.objects.filter(venue=venue).values_list(
            "account", "symbol", "qty"
        )
    }


def position_qty(venue: str, account: str, symbol: str) -> Decimal:
    qty = (
        Position.objects.filter(venue=venue, account=account, symbol=symbol)
        .values_list("qty", flat=True)
        .first()
    )
    return Decimal(0) if qty is None else Decimal(qty)


def holdings(venue: str) -> list[Holding]:
    """The OMS's positions at `venue` with their instruments' currencies (one query each). A
    position whose instrument is not registered moves no currency the OMS can name."""
    rows = list(Position.objects.filter(venue=venue).values_list("account", "symbol", "doc"))
    instruments: dict[str, dict[str, Any]] = {}
    for symbols in chunks({symbol for _, symbol, _ in rows}):
        instruments.update(
            Instrument.objects.filter(venue=venue, symbol__in=symbols).values_list("symbol", "doc")
        )
    out = []
    for account, symbol, doc in rows:
        instrument = instruments.get(symbol)
        if instrument is None:
            continue
        out.append(
            Holding(
                account=account,
                kind=instrument["kind"],
                base=instrument.get("baseCurrency"),
                quote=instrument.get("quoteCurrency"),
                qty=Decimal(doc["qty"]),
                avg_cost=Decimal(doc.get("avgCost") or 0),
                realized=Decimal(doc.get("realizedPnl") or 0),
                multiplier=Decimal(doc.get("multiplier") or 1),
            )
        )
    return out
