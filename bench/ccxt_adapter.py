"""What the ccxt adapter adds to ccxt itself, per call, with the venue's answers recorded.

    .venv/bin/python -m bench.ccxt_adapter [--iterations 2000] [--rounds 5]

Both sides run a real ccxt exchange (binance, demo environment) whose transport is the stub of
tests/ccxt_support.py answering the recorded case of tests/data/ccxt (no network, so what is
measured is CPU: ccxt builds and signs the request, parses the answer; the adapter adds its lock,
error translation and the mapping into typed Decimal records). ccxt's rate limiter is off here:
its sleep is the venue's request budget, not a cost of the code. Interleaved rounds:

- baseline: `exchange.create_order(...)`, `exchange.fetch_my_trades(...)`, `exchange.fetch_order_book(...)`
- adapter:  `place_order(PlaceRequest)`, `fetch_fills()`, `fetch_book()` over the same exchange object
            (steady state: the trades' clientOrderId was learnt in the warm-up, one order query)

Reports per-call microseconds of each: the median of the rounds, and the best round (on a shared,
loaded machine the best round is the closer estimate of the code's own cost), and the adapter's share.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import django

CLOCK = time.perf_counter


def _setup() -> dict[str, tuple[Callable[[], Any], Callable[[], Any]]]:
    from oms.venues.adapter import PlaceRequest, VenueOrdType, VenueSide
    from tests.ccxt_support import cases, stubbed_adapter

    adapter, transport = stubbed_adapter("binance", environment="demo")
    exchange = adapter.exchange
    exchange.enableRateLimit = False
    order = cases("binance", "fetchOpenOrder")[0]  # a LTC/USDT:USDT limit order's answer
    trades = cases("binance", "fetchMyTrades")[1]
    book = cases("binance", "fetchOrderBook")[1]
    transport.on("POST", "/fapi/v1/order", order["httpResponse"])
    transport.on("GET", "/fapi/v1/userTrades", trades["httpResponse"])
    transport.on("GET", "/fapi/v1/depth", book["httpResponse"])
    # the trades' order, asked for once by the adapter for its clientOrderId (then kept)
    trade_order = trades["httpResponse"][0]["orderId"]
    transport.on(
        "GET", "/fapi/v1/order", {**order["httpResponse"], "orderId": trade_order, "symbol": "BTCUSDT"}
    )
    cl_ord_id = order["parsedResponse"]["clientOrderId"]
    request = PlaceRequest(
        cl_ord_id=cl_ord_id, symbol="LTC/USDT:USDT", side=VenueSide.BUY, order_qty=Decimal("0.2"),
        ord_type=VenueOrdType.LIMIT, price=Decimal(50), time_in_force="GTC",
    )  # fmt: skip
    return {
        "place_order": (
            lambda: exchange.create_order(
                "LTC/USDT:USDT", "limit", "buy", 0.2, 50, {"clientOrderId": cl_ord_id, "timeInForce": "GTC"}
            ),
            lambda: adapter.place_order(request),
        ),
        "fetch_fills": (
            lambda: exchange.fetch_my_trades("BTC/USDT:USDT"),
            lambda: adapter.fetch_fills(symbol="BTC/USDT:USDT"),
        ),
        "fetch_book": (
            lambda: exchange.fetch_order_book("BTC/USDT:USDT", 5),
            lambda: adapter.fetch_book("BTC/USDT:USDT", depth=5),
        ),
    }


def _per_call_us(fn: Callable[[], Any], iterations: int) -> float:
    start = CLOCK()
    for _ in range(iterations):
        fn()
    return (CLOCK() - start) / iterations * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default="var/bench/ccxt_adapter.json")
    args = parser.parse_args()
    django.setup()
    calls = _setup()
    for baseline, adapted in calls.values():  # warm up (imports, ccxt's caches)
        baseline()
        adapted()
    samples: dict[str, dict[str, list[float]]] = {name: {"ccxt": [], "adapter": []} for name in calls}
    for _ in range(args.rounds):
        for name, (baseline, adapted) in calls.items():
            samples[name]["ccxt"].append(_per_call_us(baseline, args.iterations))
            samples[name]["adapter"].append(_per_call_us(adapted, args.iterations))
    result: dict[str, Any] = {}
    print(f"{'call':<12} {'stat':<7} {'ccxt us':>9} {'adapter us':>11} {'added us':>9} {'added %':>8}")
    for name, sample in samples.items():
        result[name] = {"rounds": sample}
        for stat, pick in (("median", statistics.median), ("best", min)):
            ccxt_us, adapter_us = pick(sample["ccxt"]), pick(sample["adapter"])
            added = adapter_us - ccxt_us
            result[name][stat] = {"ccxt_us": ccxt_us, "adapter_us": adapter_us, "added_us": added}
            print(
                f"{name:<12} {stat:<7} {ccxt_us:>9.1f} {adapter_us:>11.1f} {added:>9.1f} {added / ccxt_us * 100:>7.1f}%"
            )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(
        json.dumps({"iterations": args.iterations, "rounds": args.rounds, "calls": result}, indent=1)
    )


if __name__ == "__main__":
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "oms.settings")
    main()
