"""Helpers for the order-lifecycle tests (FIX Appendix D, executions, order trees).

`Desk` drives the OMS the way a desk trader does, either in-process through `dispatch` or over
HTTP through the command API, and answers the same `(status, body)` either way, so one scenario
can be written once and run over both paths. `q(order)` reduces an order document to the
columns of the FIX matrices: (OrdStatus, orderQty, cumQty, leavesQty).
"""

from __future__ import annotations

import itertools
import os
from decimal import Decimal
from typing import Any

from oms.core.dispatch import dispatch
from oms.core.errors import ApplicationError
from oms.core.fold import Envelope
from oms.orders.models import Order, OrderEvent
from oms.orders.repository import ORDER

_ids = itertools.count(1)

MANUAL = "MANUAL"


def uid(prefix: str = "L") -> str:
    return f"{prefix}{os.getpid()}-{next(_ids)}"


def D(value: Any) -> Decimal:
    return Decimal(str(value))


def q(order: dict[str, Any]) -> tuple[str, Decimal, Decimal, Decimal]:
    """(status, orderQty, cumQty, leavesQty): compare with e.g. ("PendingCancel", 100, 50, 50)."""
    return order["status"], D(order["orderQty"]), D(order["cumQty"]), D(order["leavesQty"])


def px(order: dict[str, Any]) -> Decimal:
    return D(order["avgPx"])


def assert_tree_replays(order: dict[str, Any]) -> None:
    """Folding each order's events with the pure `apply` rebuilds its state row exactly, and every
    event's `state` snapshot is the fold up to that event (what `replay --verify` relies on)."""
    rows = Order.objects.filter(root_id=order["rootId"])
    assert rows.exists()
    for row in rows:
        state = None
        for event in OrderEvent.objects.filter(aggregate_id=row.order_id).order_by("version"):
            env = Envelope(
                type=event.type,
                data=event.data,
                aggregate_id=event.aggregate_id,
                version=event.version,
                occurred_at=event.occurred_at,
                recorded_at=event.recorded_at,
            )
            state = ORDER.apply(state, env)
            assert ORDER.to_api(state) == event.state, (row.order_id, event.version, event.type)
        assert ORDER.to_api(state) == row.doc, row.order_id


class Desk:
    """Sends commands as the desk, in-process (`via="dispatch"`) or over HTTP (`via="http"`)."""

    def __init__(self, via: str, client: Any = None):
        assert via in ("dispatch", "http")
        self.via = via
        self.client = client

    # --- transport ------------------------------------------------------------------------------
    def send(self, topic: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if self.via == "http":
            response = self.client.post(f"/api/commands/{topic}", body, format="json")
            return response.status_code, response.json()
        try:
            result = dispatch(topic, body, actor="trader")
        except ApplicationError as exc:
            return exc.http_status, exc.as_dict()
        return result.status_code, result.body

    def ok(self, topic: str, body: dict[str, Any]) -> dict[str, Any]:
        status, answer = self.send(topic, body)
        assert status in (200, 201), (status, answer)
        return answer

    def refused(self, topic: str, body: dict[str, Any], status: int, code: str) -> dict[str, Any]:
        """Send a command that must fail with `status`/`code`; returns the error object."""
        got, answer = self.send(topic, body)
        assert (got, answer.get("error", {}).get("code")) == (status, code), (got, answer)
        return answer["error"]

    def get(self, order_id: str) -> dict[str, Any]:
        if self.via == "http":
            response = self.client.get(f"/api/queries/orders/{order_id}")
            assert response.status_code == 200, response.content
            return response.json()
        return Order.objects.get(pk=order_id).doc

    def refresh(self, order: dict[str, Any]) -> dict[str, Any]:
        return self.get(order["orderId"])

    # --- orders ---------------------------------------------------------------------------------
    def client_order(self, qty: Any = 100, **fields: Any) -> dict[str, Any]:
        body = {
            "commandType": "CreateOrderCommand",
            "clOrdID": uid("C"),
            "symbol": "ACME",
            "side": "Buy",
            "orderQty": str(qty),
            "ordType": "Market",
            "account": "ACC1",
            "venue": MANUAL,
            "handling": "Desk",
            **fields,
        }
        body = {k: v for k, v in body.items() if v is not None}
        return self.ok("orders", body)["order"]

    def child_command(self, parent: dict[str, Any], qty: Any, **fields: Any) -> dict[str, Any]:
        return {
            "commandType": "CreateOrderCommand",
            "clOrdID": uid("M"),
            "parentId": parent["orderId"],
            "orderQty": str(qty),
            **fields,
        }

    def child(self, parent: dict[str, Any], qty: Any, **fields: Any) -> dict[str, Any]:
        return self.ok("orders", self.child_command(parent, qty, **fields))["order"]

    def venue_order(self, qty: Any = 100, *, accept: bool = True, **client_fields: Any) -> dict[str, Any]:
        """A market order of `qty` at the MANUAL venue (child of a client order of the same size)."""
        client = self.client_order(qty, **client_fields)
        market = self.child(client, qty)
        assert market["status"] == "PendingNew"
        if accept:
            market = self.do("AcceptOrderCommand", market)
        return market

    def command(self, command_type: str, order: dict[str, Any], **fields: Any) -> dict[str, Any]:
        body = {"commandType": command_type, "orderId": order["orderId"], **fields}
        return {k: v for k, v in body.items() if v is not None}

    def do(self, command_type: str, order: dict[str, Any], **fields: Any) -> dict[str, Any]:
        """Send an order command that must succeed; returns the order's new state."""
        return self.ok("orders", self.command(command_type, order, **fields))["order"]

    def cancel(self, order: dict[str, Any], cl_ord_id: str | None = None) -> dict[str, Any]:
        return self.do("CancelOrderCommand", order, clOrdID=cl_ord_id or uid("X"))

    def replace(self, order: dict[str, Any], cl_ord_id: str | None = None, **terms: Any) -> dict[str, Any]:
        terms = {k: str(v) if isinstance(v, int | Decimal) else v for k, v in terms.items()}
        return self.do("ReplaceOrderCommand", order, clOrdID=cl_ord_id or uid("R"), **terms)

    # --- executions -----------------------------------------------------------------------------
    def execute(
        self, order: dict[str, Any] | str, qty: Any, price: Any = "10", **fields: Any
    ) -> dict[str, Any]:
        """Send an ExecuteOrderCommand (must be answered 2xx); returns the whole answer."""
        order_id = order if isinstance(order, str) else order["orderId"]
        venue = fields.pop("venue", None)
        if venue is None and not isinstance(order, str):
            venue = order["venue"]
        body = {
            "commandType": "ExecuteOrderCommand",
            "orderId": order_id,
            "execID": fields.pop("execID", None) or uid("F"),
            "lastQty": str(qty),
            "lastPx": str(price),
            "venue": venue,
            **fields,
        }
        return self.ok("executions", {k: v for k, v in body.items() if v is not None})

    def fill(self, order: dict[str, Any], qty: Any, price: Any = "10") -> dict[str, Any]:
        """A valid fill: it must be allocated and applied; returns the order's new state."""
        answer = self.execute(order, qty, price)
        assert answer["execution"]["status"] == "Allocated", answer["execution"]
        return answer["order"]

    def exec_command(self, command_type: str, execution: dict[str, Any], **fields: Any) -> dict[str, Any]:
        body = {"commandType": command_type, "executionId": execution["executionId"], **fields}
        return {k: v for k, v in body.items() if v is not None}


# --- RFQ: quote requests and quotes through the same write path ------------------------------------


def request_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "commandType": "CreateQuoteRequestCommand",
        "quoteReqID": uid("QR"),
        "symbol": "BTC-PERP",
        "side": "Buy",
        "orderQty": "10",
        "account": "ACC1",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def new_request(**overrides: Any) -> dict[str, Any]:
    result = dispatch("quote-requests", request_body(**overrides), actor="trader")
    assert result.status_code == 201
    return result.body["quoteRequest"]


def quote_body(request: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    body = {
        "commandType": "CreateQuoteCommand",
        "quoteID": uid("QT"),
        "quoteReqID": request["quoteReqID"],
        "bidPx": "99",
        "offerPx": "101",
        "bidSize": "10",
        "offerSize": "10",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def new_quote(request: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    result = dispatch("quotes", quote_body(request, **overrides), actor="dealer")
    assert result.status_code == 201
    return result.body["quote"]
