"""The per-order command sequence every write benchmark drives (in-process or over HTTP).

One order = 5 commands, each its own transaction:
  CreateOrderCommand (client order, handling Desk, Limit)      -> 1 event
  CreateOrderCommand (market child, parentId=client, MANUAL)   -> 2 events (child created, parent updated)
  AcceptOrderCommand on the market order                       -> 1 event
  ExecuteOrderCommand x 2 (venue MANUAL, 50 + 50 of 100)       -> 3 events each (execution, fill, parent)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

SYMBOLS = [f"SYM{n:02d}" for n in range(50)]
ORDER_QTY = "100"
PRICE = "10.5"
FILL_QTY = "50"
FILL_PX = "10.25"
COMMANDS_PER_ORDER = 5
EVENTS_PER_ORDER = 10

CREATE_CLIENT = "CreateOrder (client)"
CREATE_MARKET = "CreateOrder (market)"
ACCEPT = "AcceptOrder"
EXECUTE = "ExecuteOrder"
COMMAND_LABELS = (CREATE_CLIENT, CREATE_MARKET, ACCEPT, EXECUTE)

# send(topic, body) -> (http-like status, response body); record(label, seconds)
Send = Callable[[str, dict[str, Any]], tuple[int, dict[str, Any]]]
Record = Callable[[str, float], None]


class CommandFailed(RuntimeError):
    pass


def _ok(label: str, status: int, body: dict[str, Any]) -> dict[str, Any]:
    if status not in (200, 201) or body.get("duplicate"):
        raise CommandFailed(f"{label}: HTTP {status} {str(body)[:300]}")
    return body


def client_order(tag: str, i: int) -> dict[str, Any]:
    return {
        "commandType": "CreateOrderCommand",
        "clOrdID": f"{tag}-C{i}",
        "symbol": SYMBOLS[i % len(SYMBOLS)],
        "side": "Buy",
        "orderQty": ORDER_QTY,
        "ordType": "Limit",
        "price": PRICE,
        "timeInForce": "Day",
        "account": f"ACC{i % 20:02d}",
        "handling": "Desk",
    }


def market_order(tag: str, i: int, parent_id: str) -> dict[str, Any]:
    return {
        "commandType": "CreateOrderCommand",
        "clOrdID": f"{tag}-M{i}",
        "parentId": parent_id,
        "orderQty": ORDER_QTY,
        "ordType": "Limit",
        "price": PRICE,
        "venue": "MANUAL",
    }


def accept(order_id: str) -> dict[str, Any]:
    return {"commandType": "AcceptOrderCommand", "orderId": order_id}


def execute(tag: str, i: int, k: int, order_id: str) -> dict[str, Any]:
    return {
        "commandType": "ExecuteOrderCommand",
        "orderId": order_id,
        "execID": f"{tag}-X{i}-{k}",
        "lastQty": FILL_QTY,
        "lastPx": FILL_PX,
        "venue": "MANUAL",
    }


def run_order(send: Send, record: Record, tag: str, i: int, clock: Callable[[], float]) -> dict[str, Any]:
    """Drive one order through the five commands; returns the ids and results (for capture)."""
    t = clock()
    client = _ok(CREATE_CLIENT, *send("orders", client_order(tag, i)))
    record(CREATE_CLIENT, clock() - t)
    client_id = client["order"]["orderId"]
    t = clock()
    market = _ok(CREATE_MARKET, *send("orders", market_order(tag, i, client_id)))
    record(CREATE_MARKET, clock() - t)
    market_id = market["order"]["orderId"]
    t = clock()
    _ok(ACCEPT, *send("orders", accept(market_id)))
    record(ACCEPT, clock() - t)
    fills = []
    for k in range(2):
        t = clock()
        fills.append(_ok(EXECUTE, *send("executions", execute(tag, i, k, market_id))))
        record(EXECUTE, clock() - t)
    status = fills[-1].get("order", {}).get("status")
    if status != "Filled":
        raise CommandFailed(f"market order {market_id} ended {status}, expected Filled")
    return {"client": client, "market": market, "fills": fills}
