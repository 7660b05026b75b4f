"""Helpers of the venue tests: a SIM instrument, market and faults; waiting for an order."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from oms.core.dispatch import dispatch
from oms.orders.models import Order
from oms.venues.adapter import reset_adapters
from oms.venues.ingest import consumers, reset_consumers
from oms.venues.sim.adapter import engine_for
from tests.conftest import uid

SUPER = "boss"  # the conftest's superuser persona (admin_user)


@contextmanager
def fresh_sim_venue(settings: Any, tmp_path: Any, *, gap_hold_ms: int = 100) -> Iterator[None]:
    """A SIM venue of the test's own (its prefix, its SQLite file under `tmp_path`), with the
    adapters and stream consumers built afresh, and all of it reset again afterwards."""
    settings.OMS_SIM_PREFIX = f"sim-test-{uid('P')}"
    settings.VAR_DIR = tmp_path  # the SIM venue's SQLite file
    settings.OMS_VENUE_GAP_HOLD_MS = gap_hold_ms
    reset_adapters()
    reset_consumers()
    engine_for("SIM").reset()
    yield
    engine_for("SIM").reset()
    reset_adapters()
    reset_consumers()


def ingest() -> None:
    """Step every in-process stream consumer once, without waiting."""
    for consumer in consumers():
        consumer.step(timeout=0)


def sim_instrument(symbol: str) -> None:
    dispatch(
        "instruments",
        {
            "commandType": "UpsertInstrumentCommand",
            "venue": "SIM",
            "symbol": symbol,
            "kind": "Perpetual",
            "tickSize": "0.5",
            "lotSize": "1",
            "minQty": "1",
        },
        actor=SUPER,
    )


def sim_market(symbol: str, bid: str, ask: str, bid_size: str, ask_size: str) -> dict[str, Any]:
    body = {
        "commandType": "SimSetMarketCommand",
        "symbol": symbol,
        "bidPx": bid,
        "askPx": ask,
        "bidSize": bid_size,
        "askSize": ask_size,
    }
    return dispatch("sim", body, actor=SUPER).body


def sim_faults(**faults: Any) -> dict[str, Any]:
    return dispatch("sim", {"commandType": "SimSetFaultsCommand", "faults": faults}, actor=SUPER).body


def client_order(
    symbol: str, qty: str, *, side: str = "Buy", account: str = "ACC-V", **extra: Any
) -> dict[str, Any]:
    body = {
        "commandType": "CreateOrderCommand",
        "clOrdID": uid("V"),
        "symbol": symbol,
        "side": side,
        "orderQty": qty,
        "ordType": "Market",
        "account": account,
        "venue": "SIM",
        "handling": "Auto",
        **extra,
    }
    order: dict[str, Any] = dispatch("orders", body, actor="trader").body["order"]
    return order


def doc(order_id: str) -> dict[str, Any]:
    found: dict[str, Any] = Order.objects.get(pk=order_id).doc
    return found


def children(order_id: str) -> list[dict[str, Any]]:
    return list(Order.objects.filter(parent_id=order_id).values_list("doc", flat=True))


def wait_for(check: Callable[[], Any], timeout: float, step: Callable[[], Any] | None = None) -> Any:
    """Poll `check` until truthy (running `step` between polls, e.g. the in-process stream)."""
    deadline = time.monotonic() + timeout
    while True:
        if step is not None:
            step()
        found = check()
        if found or time.monotonic() >= deadline:
            return found
        time.sleep(0.05)
