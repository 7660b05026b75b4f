"""Codec spike: decode + validate + encode cost of one command and one order document.

    .venv/bin/python -m bench.codec_spike [--n 20000] [--rounds 5]

Three codecs, interleaved in rounds (the machine is shared and noisy): the hand-written parser
of today (`oms.core.parsing.Fields` + `dec_str`), msgspec Structs (frozen) and pydantic v2
models (frozen). Each decodes the JSON bytes of an `ExecuteOrderCommand` (7 fields, two
decimals, one date-time) and of an order document (35 fields, 9 decimals, 3 date-times),
validates it into a typed record, then encodes it back to JSON bytes. A second pydantic row
uses the model's `validate_json`/`dump_json` straight from bytes. Reported: microseconds per
round trip (best round, and median of rounds). No database: pure CPU.

Also printed, for the choice: how each reports three bad fields at once (the contract's
`{"fields": {...}}` error lists every field; a decoder that stops at the first cannot).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import time
from collections.abc import Callable
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

import msgspec
import pydantic

COMMAND = {
    "commandType": "ExecuteOrderCommand",
    "orderId": "O0193a5b2c3d4e5f6a7b8c9",
    "execID": "X-20261130-000123",
    "lastQty": "100",
    "lastPx": "10.25",
    "venue": "XNAS",
    "transactTime": "2026-11-30T14:30:00.123456Z",
}
COMMAND_JSON = json.dumps(COMMAND).encode()
BAD_COMMAND_JSON = json.dumps({**COMMAND, "orderId": 5, "lastQty": "ten", "transactTime": "soon"}).encode()

DOC = {
    "orderId": "O0193a5b2c3d4e5f6a7b8c9",
    "clOrdID": "C-1",
    "origClOrdID": None,
    "kind": "Market",
    "rootId": "O0193a5b2c3d4e5f6a7b8c0",
    "parentId": "O0193a5b2c3d4e5f6a7b8c0",
    "symbol": "AAPL",
    "side": "Buy",
    "orderQty": "1000",
    "ordType": "Limit",
    "price": "190.25",
    "stopPx": None,
    "timeInForce": "Day",
    "expireTime": None,
    "account": "ACC-1",
    "venue": "XNAS",
    "status": "PartiallyFilled",
    "cumQty": "400",
    "leavesQty": "600",
    "avgPx": "190.1",
    "grossTradeAmt": "76040",
    "allocatedQty": None,
    "placedQty": "0",
    "workingChildren": 0,
    "handling": "Desk",
    "routingReason": "placed by desk",
    "pending": None,
    "pendingCancel": None,
    "phase": "Open",
    "version": 7,
    "createdAt": "2026-11-30T14:00:00Z",
    "updatedAt": "2026-11-30T14:30:00.123456Z",
    "text": None,
    "attributes": {"strategy": "VWAP"},
}
DOC_JSON = json.dumps(DOC).encode()


class Side(StrEnum):
    BUY = "Buy"
    SELL = "Sell"
    SELL_SHORT = "SellShort"


class Kind(StrEnum):
    CLIENT = "Client"
    MARKET = "Market"
    SLICE = "Slice"


# --- msgspec --------------------------------------------------------------------------------------


class MsExecute(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    commandType: Literal["ExecuteOrderCommand"]
    orderId: str
    execID: str
    lastQty: Decimal
    lastPx: Decimal
    venue: str | None = None
    transactTime: dt.datetime | None = None
    text: str | None = None


class MsOrder(msgspec.Struct, frozen=True):
    orderId: str
    clOrdID: str
    origClOrdID: str | None
    kind: Kind
    rootId: str
    parentId: str | None
    symbol: str
    side: Side
    orderQty: Decimal
    ordType: str
    price: Decimal | None
    stopPx: Decimal | None
    timeInForce: str
    expireTime: dt.datetime | None
    account: str
    venue: str | None
    status: str
    cumQty: Decimal
    leavesQty: Decimal
    avgPx: Decimal
    grossTradeAmt: Decimal
    allocatedQty: Decimal | None
    placedQty: Decimal
    workingChildren: int
    handling: str
    routingReason: str | None
    pending: dict[str, Any] | None
    pendingCancel: dict[str, Any] | None
    phase: str
    version: int
    createdAt: dt.datetime
    updatedAt: dt.datetime
    text: str | None
    attributes: dict[str, Any]


_ms_exec = msgspec.json.Decoder(MsExecute)
_ms_order = msgspec.json.Decoder(MsOrder)
_ms_enc = msgspec.json.Encoder(decimal_format="string")


def ms_command() -> bytes:
    return _ms_enc.encode(_ms_exec.decode(COMMAND_JSON))


def ms_doc() -> bytes:
    return _ms_enc.encode(_ms_order.decode(DOC_JSON))


# --- pydantic v2 ----------------------------------------------------------------------------------

_FROZEN = pydantic.ConfigDict(frozen=True, extra="forbid")


class PdExecute(pydantic.BaseModel):
    model_config = _FROZEN
    commandType: Literal["ExecuteOrderCommand"]
    orderId: str
    execID: str
    lastQty: Decimal
    lastPx: Decimal
    venue: str | None = None
    transactTime: dt.datetime | None = None
    text: str | None = None


class PdOrder(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(frozen=True)
    orderId: str
    clOrdID: str
    origClOrdID: str | None
    kind: Kind
    rootId: str
    parentId: str | None
    symbol: str
    side: Side
    orderQty: Decimal
    ordType: str
    price: Decimal | None
    stopPx: Decimal | None
    timeInForce: str
    expireTime: dt.datetime | None
    account: str
    venue: str | None
    status: str
    cumQty: Decimal
    leavesQty: Decimal
    avgPx: Decimal
    grossTradeAmt: Decimal
    allocatedQty: Decimal | None
    placedQty: Decimal
    workingChildren: int
    handling: str
    routingReason: str | None
    pending: dict[str, Any] | None
    pendingCancel: dict[str, Any] | None
    phase: str
    version: int
    createdAt: dt.datetime
    updatedAt: dt.datetime
    text: str | None
    attributes: dict[str, Any]


def pd_command() -> bytes:
    return PdExecute.model_validate(json.loads(COMMAND_JSON)).model_dump_json().encode()


def pd_command_json() -> bytes:
    return PdExecute.model_validate_json(COMMAND_JSON).model_dump_json().encode()


def pd_doc() -> bytes:
    return PdOrder.model_validate(json.loads(DOC_JSON)).model_dump_json().encode()


def pd_doc_json() -> bytes:
    return PdOrder.model_validate_json(DOC_JSON).model_dump_json().encode()


# --- today: hand-written parsing ------------------------------------------------------------------


def hand_command() -> bytes:
    from oms.core.parsing import Fields, dec_str, iso

    f = Fields(json.loads(COMMAND_JSON))
    data = {
        "orderId": f.string("orderId", required=True),
        "execID": f.string("execID", required=True),
        "lastQty": dec_str(f.decimal("lastQty", required=True)),
        "lastPx": dec_str(f.decimal("lastPx", required=True)),
        "venue": f.string("venue"),
        "transactTime": iso(f.datetime("transactTime")),
        "text": f.string("text"),
    }
    f.raise_if_errors()
    return json.dumps(data).encode()


def hand_doc() -> bytes:
    from oms.orders.state import from_api, to_api

    return json.dumps(to_api(from_api(json.loads(DOC_JSON)))).encode()


def _bench(fn: Callable[[], bytes], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e6


def _errors() -> None:
    try:
        _ms_exec.decode(BAD_COMMAND_JSON)
    except msgspec.ValidationError as exc:
        print(f"  msgspec : {exc}")
    try:
        PdExecute.model_validate_json(BAD_COMMAND_JSON)
    except pydantic.ValidationError as exc:
        print(f"  pydantic: {[(e['loc'], e['msg']) for e in exc.errors()]}")


def main() -> None:
    import django

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "oms.settings")
    django.setup()
    cases = {
        ("command", "hand-written (today)"): hand_command,
        ("command", "msgspec"): ms_command,
        ("command", "pydantic"): pd_command,
        ("command", "pydantic (from bytes)"): pd_command_json,
        ("order doc", "hand-written (today)"): hand_doc,
        ("order doc", "msgspec"): ms_doc,
        ("order doc", "pydantic"): pd_doc,
        ("order doc", "pydantic (from bytes)"): pd_doc_json,
    }
    for fn in cases.values():
        _bench(fn, 500)  # warm up
    results: dict[tuple[str, str], list[float]] = {k: [] for k in cases}
    keys = list(cases)
    for r in range(args.rounds):
        order = keys[r % len(keys) :] + keys[: r % len(keys)]
        for key in order:
            results[key].append(_bench(cases[key], args.n))
    print(f"decode + validate + encode, microseconds per round trip ({args.rounds} rounds of {args.n})")
    print(f"{'record':<10} {'codec':<24} {'best':>8} {'median':>8}")
    for (record, codec), times in results.items():
        print(f"{record:<10} {codec:<24} {min(times):8.1f} {statistics.median(times):8.1f}")
    print("three bad fields (orderId: 5, lastQty: 'ten', transactTime: 'soon'):")
    _errors()
    print("JSON Schema: msgspec.json.schema(MsExecute) and PdExecute.model_json_schema() both work;")
    print(f"  pydantic lastQty: {PdExecute.model_json_schema()['properties']['lastQty']}")
    print(
        f"  msgspec  lastQty: {msgspec.json.schema(MsExecute)['$defs']['MsExecute']['properties']['lastQty']}"
    )


if __name__ == "__main__":
    main()
