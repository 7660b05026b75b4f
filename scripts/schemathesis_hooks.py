"""Schemathesis hooks for scripts/schemathesis.sh: examples that name the seeded objects.

The schema documents the API; it cannot know which orders exist. Before the schema is loaded,
this asks the running server (as the desk user) for some of the demo objects `seed_demo` made and
adds them as examples: each path's id, and per command path one example body per command type,
so the examples phase sends commands the server accepts, not only ones it refuses. After the run
it prints, per command type, the status codes answered, and `ST_ACCEPTED_FILE` records the
command types answered 2xx (the script fails when none of a topic's commands was accepted).
"""

from __future__ import annotations

import atexit
import json
import os
import urllib.request
import uuid
from collections import Counter
from typing import Any

import schemathesis

URL = os.environ["OMS_URL"]
TOKEN = os.environ["OMS_TOKEN"]
RUN = str(os.getpid())


def _get(path: str) -> list[dict[str, Any]]:
    request = urllib.request.Request(URL + path, headers={"Authorization": f"Token {TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["results"]


def _first(path: str) -> dict[str, Any]:
    results = _get(path)
    assert results, f"the seeded database has nothing at {path}"
    return results[0]


def _seeded() -> dict[str, Any]:
    market = _first("/api/queries/orders?kind=Market&status=New,PartiallyFilled&venue=MANUAL")
    held = _first("/api/queries/executions?status=PendingReview")
    allocated = _first("/api/queries/executions?status=Allocated")
    quote = _first("/api/queries/quotes?status=Active")
    request = _first(f"/api/queries/quote-requests?quoteRequestId={quote['quoteRequestId']}")
    pending = _first("/api/queries/orders?kind=Market&status=PendingNew&venue=MANUAL")
    desk = next(o for o in _get("/api/queries/orders?kind=Client&status=New") if not o["workingChildren"])
    return {
        "market": market,
        "held": held,
        "allocated": allocated,
        "quote": quote,
        "request": request,
        "desk": desk,
        "pending": pending,
    }


def _bodies(seeded: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    market_id = seeded["market"]["orderId"]
    desk_id = seeded["desk"]["orderId"]
    return {
        "orders": {
            "CreateOrderCommand": {
                "clOrdID": f"ST-{RUN}-1",
                "symbol": "ACME",
                "side": "Buy",
                "orderQty": "100",
                "ordType": "Limit",
                "price": "10.5",
                "timeInForce": "Day",
                "account": "ST",
                "venue": "MANUAL",
                "handling": "Desk",
                "text": "schemathesis",
                "attributes": {"desk": "st"},
            },
            "ReplaceOrderCommand": {"orderId": market_id, "clOrdID": f"ST-{RUN}-R", "price": "10"},
            "RestateOrderCommand": {"orderId": market_id, "text": "restated", "price": "10"},
            "AcceptOrderCommand": {"orderId": seeded["pending"]["orderId"]},
            "DoneForDayCommand": {"orderId": market_id},
            "CancelOrderCommand": {"orderId": desk_id, "clOrdID": f"ST-{RUN}-C"},
        },
        "executions": {
            "ExecuteOrderCommand": {
                "orderId": market_id,
                "execID": f"ST-{RUN}-X",
                "lastQty": "1",
                "lastPx": "10",
                "venue": "MANUAL",
            },
            "AllocateExecutionCommand": {"executionId": seeded["held"]["executionId"], "text": "checked"},
            "CorrectExecutionCommand": {"executionId": seeded["allocated"]["executionId"], "lastPx": "9.5"},
        },
        "quote-requests": {
            "CreateQuoteRequestCommand": {
                "quoteReqID": f"ST-{RUN}-QR",
                "symbol": "ACME",
                "side": "Buy",
                "orderQty": "50",
                "account": "ST",
            },
        },
        "quotes": {
            "CreateQuoteCommand": {
                "quoteID": f"ST-{RUN}-Q",
                "quoteReqID": seeded["request"]["quoteReqID"],
                "bidPx": "9.9",
                "offerPx": "10.1",
            },
            "AcceptQuoteCommand": {"quoteId": seeded["quote"]["quoteId"], "venue": "MANUAL"},
        },
    }


@schemathesis.hook
def before_load_schema(context: Any, raw_schema: dict[str, Any]) -> None:
    seeded = _seeded()
    ids = {
        "order_id": seeded["market"]["orderId"],
        "execution_id": seeded["allocated"]["executionId"],
        "quote_request_id": seeded["request"]["quoteRequestId"],
        "quote_id": seeded["quote"]["quoteId"],
    }
    for path, item in raw_schema.get("paths", {}).items():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "path" and parameter.get("name") in ids:
                    parameter["example"] = ids[parameter["name"]]
        topic = path.removeprefix("/api/commands/")
        if topic == path:
            continue
        bodies = _bodies(seeded).get(topic, {})
        media = item["post"]["requestBody"]["content"]["application/json"]
        media["examples"] = {
            command_type: {"value": {"commandType": command_type, **body}}
            for command_type, body in bodies.items()
        }


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    """A fresh Idempotency-Key per call: the generator repeats keys with other bodies, and a
    server answering those 422 idempotency_key_reused would never reach the handlers."""
    if case.headers and "Idempotency-Key" in case.headers:
        case.headers["Idempotency-Key"] = uuid.uuid4().hex


_ANSWERS: Counter[tuple[str, str, int]] = Counter()


@schemathesis.hook
def after_call(context: Any, case: Any, response: Any) -> None:
    path = case.operation.path
    if path.startswith("/api/commands/") and isinstance(case.body, dict):
        _ANSWERS[(path, str(case.body.get("commandType")), response.status_code)] += 1


def _report() -> None:
    accepted: dict[str, list[str]] = {}
    print("\ncommands answered (path, commandType: status x count):")
    for (path, command_type, status), count in sorted(_ANSWERS.items()):
        print(f"  {path} {command_type}: {status} x {count}")
        if 200 <= status < 300:
            accepted.setdefault(path, []).append(command_type)
    out = os.environ.get("ST_ACCEPTED_FILE")
    if out:
        with open(out, "w") as f:
            json.dump(accepted, f)


atexit.register(_report)
