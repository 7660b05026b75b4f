"""Document codec: encode (state -> API document) and decode (document -> state) cost per order.

    .venv/bin/python -m bench.documents [--n 10000] [--rounds 15]

Encodes and decodes `--n` order states (a mix of client orders, market orders with and without
a price, filled and working) with the domain's codec (`oms.orders.state.to_api` / `from_api`,
generated from the declared document `ORDER_DOCUMENT` since the codec was declared once) and
with the hand-written functions it replaced (copied below, verbatim: the same-run baseline).
Interleaved in rounds, alternating which goes first (the machine is shared); reported: CPU
microseconds per document (process time, best round and median of rounds), the ratio declared /
hand-written (median of the rounds' ratios, and of the best rounds), and the load average.
No database: pure CPU. Checks first that both write the same document.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "oms.settings")
django.setup()

from oms.core.parsing import dec_str, from_iso, iso, to_dec  # noqa: E402
from oms.orders.actions import order_allowed_actions  # noqa: E402
from oms.orders.enums import Handling, Kind, Phase  # noqa: E402
from oms.orders.state import OrderState, derive, from_api, to_api  # noqa: E402


def hand_to_api(s: OrderState) -> dict[str, Any]:
    return {
        "orderId": s.order_id,
        "clOrdID": s.cl_ord_id,
        "origClOrdID": s.orig_cl_ord_id,
        "kind": s.kind.value,
        "rootId": s.root_id,
        "parentId": s.parent_id,
        "symbol": s.symbol,
        "side": s.side,
        "orderQty": dec_str(s.order_qty),
        "ordType": s.ord_type,
        "price": dec_str(s.price),
        "stopPx": dec_str(s.stop_px),
        "timeInForce": s.time_in_force,
        "expireTime": iso(s.expire_time),
        "account": s.account,
        "venue": s.venue,
        "status": s.status.value,
        "cumQty": dec_str(s.cum_qty),
        "leavesQty": dec_str(s.leaves_qty),
        "avgPx": dec_str(s.avg_px),
        "grossTradeAmt": dec_str(s.gross_trade_amt),
        "allocatedQty": dec_str(s.allocated_qty) if s.kind is Kind.CLIENT else None,
        "placedQty": dec_str(s.placed_qty),
        "workingChildren": s.working_children,
        "handling": s.handling.value,
        "routingReason": s.routing_reason,
        "routingRule": s.routing_rule,
        "routingRuleVersion": s.routing_rule_version,
        "pending": s.pending_replace,
        "pendingCancel": s.pending_cancel,
        "phase": s.phase.value,
        "version": s.version,
        "createdAt": iso(s.created_at),
        "updatedAt": iso(s.updated_at),
        "text": s.text,
        "attributes": s.attributes,
        "allowedActions": order_allowed_actions(s),
    }


def hand_from_api(d: dict[str, Any]) -> OrderState:
    s = OrderState(
        order_id=d["orderId"],
        cl_ord_id=d["clOrdID"],
        orig_cl_ord_id=d.get("origClOrdID"),
        kind=Kind(d["kind"]),
        root_id=d["rootId"],
        parent_id=d.get("parentId"),
        symbol=d["symbol"],
        side=d["side"],
        order_qty=Decimal(d["orderQty"]),
        ord_type=d["ordType"],
        price=to_dec(d.get("price")),
        stop_px=to_dec(d.get("stopPx")),
        time_in_force=d["timeInForce"],
        expire_time=from_iso(d.get("expireTime")),
        account=d["account"],
        venue=d.get("venue"),
        handling=Handling(d["handling"]),
        routing_reason=d.get("routingReason"),
        routing_rule=d.get("routingRule"),
        routing_rule_version=d.get("routingRuleVersion"),
        text=d.get("text"),
        attributes=d.get("attributes") or {},
        phase=Phase(d["phase"]),
        version=d["version"],
        created_at=from_iso(d["createdAt"]),
        updated_at=from_iso(d["updatedAt"]),
        cum_qty=Decimal(d["cumQty"]),
        gross_trade_amt=Decimal(d["grossTradeAmt"]),
        allocated_qty=Decimal(d["allocatedQty"] or "0"),
        placed_qty=Decimal(d["placedQty"]),
        working_children=d["workingChildren"],
        pending_replace=d.get("pending"),
        pending_cancel=d.get("pendingCancel"),
    )
    derive(s)
    return s


def states(n: int) -> list[OrderState]:
    t0 = dt.datetime(2026, 11, 30, 14, 0, tzinfo=dt.UTC)
    out = []
    for i in range(n):
        kind = (Kind.CLIENT, Kind.MARKET, Kind.MARKET, Kind.SLICE)[i % 4]
        s = OrderState(
            order_id=f"O{i:023d}",
            cl_ord_id=f"C-{i}",
            kind=kind,
            root_id=f"O{i - i % 4:023d}",
            parent_id=None if kind is Kind.CLIENT else f"O{i - i % 4:023d}",
            symbol="AAPL",
            side="Buy" if i % 2 else "Sell",
            order_qty=Decimal(1000 + i % 97),
            ord_type="Limit" if i % 3 else "Market",
            price=Decimal("190.25") + Decimal(i % 50) / 100 if i % 3 else None,
            time_in_force="Day",
            account="ACC-1",
            venue=None if kind is Kind.CLIENT else "XNAS",
            handling=Handling.AUTO,
            phase=Phase.OPEN if i % 5 else Phase.PENDING_NEW,
            version=i % 9,
            created_at=t0,
            updated_at=t0 + dt.timedelta(microseconds=i),
            cum_qty=Decimal(i % 400),
            gross_trade_amt=Decimal(i % 400) * Decimal("190.1"),
            attributes={"strategy": "VWAP"} if i % 2 else {},
            text="hello" if i % 7 == 0 else None,
        )
        derive(s)
        out.append(s)
    return out


def _cpu_us(fn: Callable[[Any], Any], items: list[Any]) -> float:
    t = time.process_time()
    for item in items:
        fn(item)
    return (time.process_time() - t) / len(items) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    items = states(args.n)
    docs = [hand_to_api(s) for s in items]
    assert [to_api(s) for s in items] == docs, "the declared document differs from the hand-written one"
    assert [json.dumps(to_api(s)) for s in items[:500]] == [json.dumps(d) for d in docs[:500]]
    assert [to_api(from_api(d)) for d in docs] == docs
    rows: dict[str, list[float]] = {
        k: [] for k in ("encode hand", "encode declared", "decode hand", "decode declared")
    }
    ratios: dict[str, list[float]] = {"encode": [], "decode": []}
    for r in range(args.rounds):
        for op, fns, inputs in (
            ("encode", (hand_to_api, to_api), items),
            ("decode", (hand_from_api, from_api), docs),
        ):
            # alternate which goes first: a shared machine's noise falls on both alike
            order = ((0, "hand"), (1, "declared")) if r % 2 == 0 else ((1, "declared"), (0, "hand"))
            taken = {name: _cpu_us(fns[i], inputs) for i, name in order}
            rows[f"{op} hand"].append(taken["hand"])
            rows[f"{op} declared"].append(taken["declared"])
            ratios[op].append(taken["declared"] / taken["hand"])
    print(f"load average {os.getloadavg()}; n={args.n}, rounds={args.rounds}; CPU us per document")
    for name, values in rows.items():
        print(f"{name:16} best {min(values):7.2f}  median {statistics.median(values):7.2f}")
    for op, values in ratios.items():
        print(
            f"{op}: declared / hand-written, median of rounds {statistics.median(values):.3f} "
            f"(best rounds {min(rows[op + ' declared']) / min(rows[op + ' hand']):.3f})"
        )


if __name__ == "__main__":
    main()
