"""The SIM venue's engine, on its own (no database, no OMS): matching, idempotency, faults."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from oms.venues.adapter import (
    CancelRequest,
    OrderNotFound,
    PlaceRequest,
    RateLimited,
    ReplaceRequest,
    UnknownOutcome,
    VenueFill,
    VenueOrderReport,
    VenueOrderStatus,
    VenueOrdType,
    VenueRejected,
    VenueSide,
)
from oms.venues.sim.adapter import SimAdapter
from oms.venues.sim.engine import SimEngine
from oms.venues.sim.store import MemoryStore, SqliteStore

D = Decimal


@pytest.fixture(params=["memory", "sqlite"])
def sim(request: pytest.FixtureRequest, tmp_path: Any) -> SimAdapter:
    adapter = SimAdapter.__new__(SimAdapter)
    store = MemoryStore() if request.param == "memory" else SqliteStore(str(tmp_path / "sim.sqlite3"))
    adapter.venue, adapter.adapter_name = "SIM", "SIM"
    adapter.engine = SimEngine("SIM", store)
    adapter._cursor = None
    adapter.watch_executions(timeout=0)  # connect: hear what follows
    return adapter


def market(
    sim: SimAdapter, bid: str = "100", ask: str = "101", bid_size: str = "5", ask_size: str = "5"
) -> None:
    sim.engine.set_market("BTC", D(bid), D(ask), D(bid_size), D(ask_size))


def place(sim: SimAdapter, cl: str, qty: str, side: str = "Buy", **kw: Any) -> VenueOrderReport:
    return sim.place_order(
        PlaceRequest(cl_ord_id=cl, symbol="BTC", side=VenueSide(side), order_qty=D(qty), account="A", **kw)
    )


def stream(sim: SimAdapter) -> list[Any]:
    return sim.watch_executions(timeout=0)


def fills(messages: list[Any]) -> list[VenueFill]:
    return [m for m in messages if isinstance(m, VenueFill)]


def test_partial_fill_against_displayed_size_and_the_rest_as_the_market_refreshes(sim: SimAdapter) -> None:
    market(sim, ask_size="4")
    report = place(sim, "C1", "10")
    assert (report.status, report.cum_qty, report.avg_px) == (VenueOrderStatus.PARTIALLY_FILLED, 4, 101)
    assert sim.engine.market("BTC")["askSize"] == "0", "the fill took the displayed size"

    market(sim, ask="102", ask_size="20")
    done = sim.fetch_order(cl_ord_id="C1", symbol="BTC")

    assert done is not None and done.status is VenueOrderStatus.FILLED
    assert done.avg_px == (4 * D(101) + 6 * D(102)) / 10
    messages = stream(sim)
    assert [(f.last_qty, f.last_px) for f in fills(messages)] == [(4, 101), (6, 102)]
    seqs = [m.seq for m in messages]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), "one increasing sequence"


def test_placing_the_same_clordid_twice_returns_the_existing_order_and_fills_nothing_more(
    sim: SimAdapter,
) -> None:
    market(sim, ask_size="10")
    first = place(sim, "C1", "3")
    again = place(sim, "C1", "3")
    assert again.venue_order_id == first.venue_order_id
    assert len(sim.fetch_fills()) == 1
    assert sim.engine.market("BTC")["askSize"] == "7"


def test_ids_are_stable_and_a_terminal_order_never_matches_again(sim: SimAdapter) -> None:
    market(sim, ask_size="1")
    a = place(sim, "C1", "2")
    sim.cancel_order(CancelRequest(cl_ord_id="X1", orig_cl_ord_id="C1", symbol="BTC"))
    market(sim, ask_size="50")
    after = sim.fetch_order(cl_ord_id="C1", symbol="BTC")
    assert after is not None and after.status is VenueOrderStatus.CANCELED and after.cum_qty == 1
    assert after.venue_order_id == a.venue_order_id == "SIM-O1"
    assert [f.exec_id for f in sim.fetch_fills()] == ["SIM-E1"]


def test_limit_orders_match_only_when_marketable_and_ioc_cancels_the_rest(sim: SimAdapter) -> None:
    market(sim, ask_size="2")
    resting = place(sim, "L1", "1", ord_type=VenueOrdType.LIMIT, price=D("100.5"))
    assert (resting.status, resting.cum_qty) == (VenueOrderStatus.NEW, 0)
    ioc = place(sim, "I1", "5", ord_type=VenueOrdType.LIMIT, price=D("101"), time_in_force="IOC")
    assert (ioc.status, ioc.cum_qty) == (VenueOrderStatus.CANCELED, 2)
    market(sim, ask="100.5", ask_size="3")
    filled = sim.fetch_order(cl_ord_id="L1", symbol="BTC")
    assert filled is not None and (filled.status, filled.avg_px) == (VenueOrderStatus.FILLED, D("100.5"))


def test_cancel_of_an_unknown_order_is_order_not_found_and_of_a_filled_one_a_reject(sim: SimAdapter) -> None:
    market(sim)
    place(sim, "C1", "1")
    with pytest.raises(OrderNotFound):
        sim.cancel_order(CancelRequest(cl_ord_id="X", orig_cl_ord_id="nope", symbol="BTC"))
    with pytest.raises(VenueRejected):
        sim.cancel_order(CancelRequest(cl_ord_id="X", orig_cl_ord_id="C1", symbol="BTC"))


def test_replace_amends_in_place_under_the_new_clordid(sim: SimAdapter) -> None:
    market(sim, ask_size="0")
    place(sim, "C1", "5")
    replaced = sim.replace_order(
        ReplaceRequest(cl_ord_id="C2", orig_cl_ord_id="C1", symbol="BTC", order_qty=D(8))
    )
    assert (replaced.cl_ord_id, replaced.order_qty, replaced.venue_order_id) == ("C2", 8, "SIM-O1")
    old = sim.fetch_order(cl_ord_id="C1", symbol="BTC")
    assert old is not None and old.cl_ord_id == "C2", "the old clOrdID finds the replaced order"


def test_reject_rate_limit_and_timeout_faults_are_used_up_one_at_a_time(sim: SimAdapter) -> None:
    market(sim, ask_size="10")
    sim.engine.set_faults({"rateLimitNext": 1})
    with pytest.raises(RateLimited):
        place(sim, "C1", "1")
    assert sim.fetch_order(cl_ord_id="C1", symbol="BTC") is None, "rate limited: nothing happened"
    sim.engine.set_faults({"timeoutNext": 1})
    with pytest.raises(UnknownOutcome):
        place(sim, "C1", "1")
    assert sim.fetch_order(cl_ord_id="C1", symbol="BTC") is not None, "a timeout after the venue had it"
    sim.engine.set_faults({"rejectNext": 1})
    with pytest.raises(VenueRejected):
        place(sim, "C2", "1")
    rejected = sim.fetch_order(cl_ord_id="C2", symbol="BTC")
    assert rejected is not None and rejected.status is VenueOrderStatus.REJECTED
    assert place(sim, "C3", "1").status is VenueOrderStatus.FILLED
    assert sim.engine.faults() == {}


def test_stream_faults_duplicate_reorder_drop_and_gap(sim: SimAdapter) -> None:
    market(sim, ask_size="1")
    stream(sim)
    sim.engine.set_faults({"duplicateFills": 1})
    place(sim, "D1", "1")
    dup = fills(stream(sim))
    assert [f.exec_id for f in dup] == ["SIM-E1", "SIM-E1"] and dup[0].seq != dup[1].seq

    market(sim, ask_size="1")
    sim.engine.set_faults({"seqGap": 5})
    before = stream(sim)[-1].seq
    place(sim, "G1", "1")
    assert stream(sim)[0].seq == before + 6, "the seq jumps, nothing is lost"

    market(sim, ask_size="1")
    stream(sim)
    sim.engine.set_faults({"reorderFills": 1})
    place(sim, "R1", "1")
    seqs = [m.seq for m in stream(sim)]
    assert seqs != sorted(seqs), "the fill arrives after the message that followed it"

    market(sim, ask_size="1")
    stream(sim)
    sim.engine.set_faults({"dropStream": 1, "dropAck": 1})
    place(sim, "X1", "1")
    got = stream(sim)
    assert [type(m).__name__ for m in got] == ["VenueOrderReport"], "ack not sent, the fill lost"
    assert len(sim.fetch_fills(symbol="BTC")) == 4, "REST still has every fill"


def test_snapshot_lag_hides_young_orders_and_fills(sim: SimAdapter) -> None:
    market(sim, ask_size="1")
    sim.engine.set_faults({"snapshotLagMs": 60_000})
    place(sim, "C1", "1")
    assert sim.fetch_order(cl_ord_id="C1", symbol="BTC") is None
    assert sim.fetch_fills() == []
    sim.engine.set_faults({"snapshotLagMs": 0})
    assert len(sim.fetch_fills()) == 1


def test_external_trades_move_the_position_only(sim: SimAdapter) -> None:
    market(sim, ask_size="5")
    place(sim, "C1", "2")
    sim.engine.external_trade("A", "BTC", "Sell", D(3), D(99))
    [position] = sim.fetch_positions(account="A")
    assert position.qty == -1 and position.avg_px == 99
    assert not [m for m in fills(stream(sim)) if m.exec_id.startswith("SIM-X")], "not on the order stream"
