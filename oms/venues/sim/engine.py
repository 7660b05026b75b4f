"""The SIM venue: a deterministic matching engine against its own one-level book, with faults.

It behaves like a remote exchange the OMS does not own: an order is idempotent by clOrdID (the
same clOrdID placed twice is the same order), venue order ids (`SIM-O<n>`) and exec ids
(`SIM-E<n>`) come from counters and never change, a terminal order never matches again, and every
change is published on the execution stream with a sequence number (`seq`).

Matching: a marketable order (a market order, or a limit buy at or above the ask / sell at or
below the bid) fills against the displayed size on the far side at the touch, and takes that size
out of the book; what is larger than the displayed size stays working (PartiallyFilled) and fills
as `SimSetMarketCommand` refreshes the book. IOC cancels what did not fill at once, FOK fills all
or cancels. Stop orders are rejected (SIM has no triggers).

Faults (`SimSetFaultsCommand`; a count is used up one event at a time):

    dropAck         the next n acks are not published on the stream (the REST answer still acks)
    duplicateFills  the next n fills are published twice (same execID, another seq)
    reorderFills    the next n fills are held and published after the message that follows them
    dropStream      the next n stream messages are lost (their seq is used: a gap with loss)
    seqGap          the stream's seq jumps by n once (a gap without loss)
    snapshotLagMs   REST snapshots do not show orders and fills younger than this (a number)
    rejectNext      the next n places are rejected (VenueRejected)
    rateLimitNext   the next n places/cancels/replaces answer RateLimited (nothing happens)
    timeoutNext     the next n places happen at the venue but answer UnknownOutcome
    latencyMs       (SIM setting) every place/cancel/replace answers after this delay
"""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal
from typing import Any

from oms.venues.adapter import (
    OrderNotFound,
    RateLimited,
    UnknownOutcome,
    VenueBook,
    VenueFill,
    VenueOrderReport,
    VenueOrderStatus,
    VenuePosition,
    VenueRejected,
    VenueSide,
)
from oms.venues.sim.store import Doc, SimStore

FAULTS = (
    "dropAck",
    "duplicateFills",
    "reorderFills",
    "dropStream",
    "seqGap",
    "snapshotLagMs",
    "rejectNext",
    "rateLimitNext",
    "timeoutNext",
    "latencyMs",
)
COUNTED = {
    "dropAck",
    "duplicateFills",
    "reorderFills",
    "dropStream",
    "rejectNext",
    "rateLimitNext",
    "timeoutNext",
}
WORKING = ("New", "PartiallyFilled")
STREAM = "stream"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _iso(t: dt.datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def _time(s: str) -> dt.datetime:
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00"))


def _d(v: Any) -> Decimal:
    return Decimal(str(v))


def _s(v: Decimal) -> str:
    return format(v.normalize(), "f") if v == v.to_integral() else format(v, "f")


class SimEngine:
    def __init__(self, venue: str, store: SimStore) -> None:
        self.venue = venue
        self.store = store

    # --- faults and markets (the `sim` commands) ------------------------------------------------

    def faults(self) -> dict[str, Any]:
        return self.store.hget("config", "faults") or {}

    def set_faults(self, faults: dict[str, Any]) -> dict[str, Any]:
        with self.store.locked():
            current = self.faults()
            current.update({k: v for k, v in faults.items() if k in FAULTS})
            current = {k: v for k, v in current.items() if v}
            self.store.hset("config", "faults", current)
            return current

    def _take(self, name: str) -> bool:
        """Use up one of a counted fault; True when it fired. Caller holds the lock."""
        faults = self.faults()
        left = int(faults.get(name) or 0)
        if left <= 0:
            return False
        faults[name] = left - 1
        self.store.hset("config", "faults", {k: v for k, v in faults.items() if v})
        return True

    def market(self, symbol: str) -> Doc | None:
        return self.store.hget("markets", symbol)

    def set_market(
        self,
        symbol: str,
        bid_px: Decimal | None,
        ask_px: Decimal | None,
        bid_size: Decimal,
        ask_size: Decimal,
    ) -> Doc:
        with self.store.locked():
            market = {
                "symbol": symbol,
                "bidPx": None if bid_px is None else _s(bid_px),
                "askPx": None if ask_px is None else _s(ask_px),
                "bidSize": _s(bid_size),
                "askSize": _s(ask_size),
                "asOf": _iso(_now()),
            }
            self.store.hset("markets", symbol, market)
            self._publish({"kind": "book", **market})
            # resting orders of the symbol match the new book, oldest first
            resting = [
                o for o in self.store.hvals("orders") if o["symbol"] == symbol and o["status"] in WORKING
            ]
            for order in sorted(resting, key=lambda o: int(o["venueOrderId"].rsplit("O", 1)[1])):
                self._match(order)
            return self.store.hget("markets", symbol) or market

    def external_trade(self, account: str, symbol: str, side: str, qty: Decimal, px: Decimal) -> Doc:
        """A trade at the venue the OMS never sent: it moves the position only."""
        with self.store.locked():
            n = self.store.incr("execIds")
            fill = {
                "execID": f"{self.venue}-X{n}",
                "venueOrderId": "",
                "clOrdID": "",
                "account": account,
                "symbol": symbol,
                "side": side,
                "lastQty": _s(qty),
                "lastPx": _s(px),
                "transactTime": _iso(_now()),
                "external": True,
            }
            self.store.push("fills", fill)
            self._position(account, symbol, side, qty, px)
            return fill

    # --- order entry ---------------------------------------------------------------------------

    def place(self, order: Doc) -> VenueOrderReport:
        with self.store.locked():
            existing = self.store.hget("orders", order["clOrdID"])
            if existing is not None:  # idempotent by clOrdID: the same order, nothing new
                return self._report(existing)
            if self._take("rateLimitNext"):
                raise RateLimited(self.venue, "rate limited (SIM fault)", retry_after=0.2)
            timeout = self._take("timeoutNext")
            n = self.store.incr("orderIds")
            now = _iso(_now())
            doc = {
                **order,
                "venueOrderId": f"{self.venue}-O{n}",
                "cumQty": "0",
                "grossAmt": "0",
                "status": "New",
                "createdAt": now,
                "updatedAt": now,
                "text": None,
            }
            reject = None
            if self._take("rejectNext"):
                reject = "rejected (SIM fault)"
            elif order["ordType"] in ("Stop", "StopLimit"):
                reject = "SIM does not support stop orders"
            elif order["ordType"] == "Limit" and order.get("price") is None:
                reject = "a limit order needs a price"
            if reject is not None:
                doc.update(status="Rejected", text=reject)
                self.store.hset("orders", doc["clOrdID"], doc)
                self._publish_order(doc)
                raise VenueRejected(self.venue, reject)
            self.store.hset("orders", doc["clOrdID"], doc)
            if not self._take("dropAck"):
                self._publish_order(doc)
            doc = self._match(doc)
            if timeout:  # it happened at the venue; the answer is lost
                raise UnknownOutcome(self.venue, "no answer within the timeout (SIM fault)")
            return self._report(doc)

    def cancel(self, orig_cl_ord_id: str) -> VenueOrderReport:
        with self.store.locked():
            if self._take("rateLimitNext"):
                raise RateLimited(self.venue, "rate limited (SIM fault)", retry_after=0.2)
            doc = self.store.hget("orders", orig_cl_ord_id)
            if doc is None:
                raise OrderNotFound(self.venue, f"no order {orig_cl_ord_id}")
            if doc["status"] == "Canceled":
                return self._report(doc)  # a repeated cancel: the same answer
            if doc["status"] not in WORKING:
                raise VenueRejected(self.venue, f"order {orig_cl_ord_id} is {doc['status']}")
            doc.update(status="Canceled", updatedAt=_iso(_now()))
            self.store.hset("orders", orig_cl_ord_id, doc)
            self._publish_order(doc)
            return self._report(doc)

    def replace(
        self, orig_cl_ord_id: str, cl_ord_id: str, order_qty: Decimal | None, price: Decimal | None
    ) -> VenueOrderReport:
        """Amend in place: the order keeps its venue id and takes the new clOrdID."""
        with self.store.locked():
            if self._take("rateLimitNext"):
                raise RateLimited(self.venue, "rate limited (SIM fault)", retry_after=0.2)
            done = self.store.hget("orders", cl_ord_id)
            if done is not None:  # the same replace again
                return self._report(done)
            doc = self.store.hget("orders", orig_cl_ord_id)
            if doc is None:
                raise OrderNotFound(self.venue, f"no order {orig_cl_ord_id}")
            if doc["status"] not in WORKING:
                raise VenueRejected(self.venue, f"order {orig_cl_ord_id} is {doc['status']}")
            if order_qty is not None:
                if order_qty <= _d(doc["cumQty"]):
                    doc["status"] = "Filled"
                    order_qty = _d(doc["cumQty"])
                doc["orderQty"] = _s(order_qty)
            if price is not None:
                doc["price"] = _s(price)
            doc.update(clOrdID=cl_ord_id, origClOrdID=orig_cl_ord_id, updatedAt=_iso(_now()))
            # the old clOrdID now points at the replaced order (a fetch by either finds it)
            self.store.hset("orders", orig_cl_ord_id, {**doc, "replacedBy": cl_ord_id})
            self.store.hset("orders", cl_ord_id, doc)
            self._publish_order(doc)
            doc = self._match(doc)
            return self._report(doc)

    # --- REST snapshots ------------------------------------------------------------------------

    def _lag_cutoff(self) -> dt.datetime | None:
        lag = float(self.faults().get("snapshotLagMs") or 0)
        return _now() - dt.timedelta(milliseconds=lag) if lag > 0 else None

    def _visible(self, doc: Doc, cutoff: dt.datetime | None) -> Doc | None:
        """The order as a lagging snapshot shows it: absent if younger than the lag, its fill
        quantity only from fills older than the lag."""
        if "replacedBy" in doc:
            doc = self.store.hget("orders", doc["replacedBy"]) or doc
        if cutoff is None:
            return doc
        if _time(doc["createdAt"]) > cutoff:
            return None
        fills = [f for f in self.store.read("fills", 0) if f["venueOrderId"] == doc["venueOrderId"]]
        seen = [f for f in fills if _time(f["transactTime"]) <= cutoff]
        if len(seen) < len(fills):
            cum = sum((_d(f["lastQty"]) for f in seen), Decimal(0))
            gross = sum((_d(f["lastQty"]) * _d(f["lastPx"]) for f in seen), Decimal(0))
            status = "PartiallyFilled" if cum > 0 else "New"
            doc = {**doc, "cumQty": _s(cum), "grossAmt": _s(gross), "status": status}
        return doc

    def fetch_order(self, cl_ord_id: str) -> VenueOrderReport | None:
        doc = self.store.hget("orders", cl_ord_id)
        if doc is None:
            return None
        visible = self._visible(doc, self._lag_cutoff())
        return None if visible is None else self._report(visible)

    def fetch_open_orders(self, symbol: str | None) -> list[VenueOrderReport]:
        cutoff = self._lag_cutoff()
        reports = []
        for doc in self.store.hvals("orders"):
            if "replacedBy" in doc or (symbol and doc["symbol"] != symbol):
                continue
            visible = self._visible(doc, cutoff)
            if visible is not None and visible["status"] in WORKING:
                reports.append(self._report(visible))
        return sorted(reports, key=lambda r: r.ts_event)

    def fetch_fills(self, since: dt.datetime | None, symbol: str | None) -> list[VenueFill]:
        cutoff = self._lag_cutoff()
        fills = []
        for f in self.store.read("fills", 0):
            at = _time(f["transactTime"])
            if (since and at < since) or (cutoff and at > cutoff) or (symbol and f["symbol"] != symbol):
                continue
            fills.append(self._fill(f))
        return fills

    def fetch_positions(self, account: str | None) -> list[VenuePosition]:
        return [
            VenuePosition(
                venue=self.venue,
                account=p["account"],
                symbol=p["symbol"],
                qty=_d(p["qty"]),
                avg_px=None if p["avgPx"] is None else _d(p["avgPx"]),
                ts_event=_time(p["updatedAt"]),
            )
            for p in self.store.hvals("positions")
            if account is None or p["account"] == account
        ]

    def read_stream(self, start: int, timeout: float) -> list[Doc]:
        return self.store.wait(STREAM, start, timeout)

    def latency(self) -> None:
        ms = float(self.faults().get("latencyMs") or 0)
        if ms > 0:
            time.sleep(ms / 1000)

    # --- matching, publication, positions (caller holds the lock) ------------------------------

    def _match(self, doc: Doc) -> Doc:
        if doc["status"] not in WORKING:  # never re-match a terminal order
            return doc
        market = self.store.hget("markets", doc["symbol"])
        buy = doc["side"] == "Buy"
        px_key, size_key = ("askPx", "askSize") if buy else ("bidPx", "bidSize")
        leaves = _d(doc["orderQty"]) - _d(doc["cumQty"])
        fill_qty = Decimal(0)
        px: Decimal | None = None
        if market is not None and market[px_key] is not None:
            px = _d(market[px_key])
            limit = doc.get("price")
            marketable = doc["ordType"] == "Market" or (
                limit is not None and (_d(limit) >= px if buy else _d(limit) <= px)
            )
            if marketable:
                fill_qty = min(leaves, _d(market[size_key]))
        if doc.get("timeInForce") == "FOK" and fill_qty < leaves:
            fill_qty = Decimal(0)
        if fill_qty > 0 and px is not None and market is not None:
            market[size_key] = _s(_d(market[size_key]) - fill_qty)
            self.store.hset("markets", doc["symbol"], market)
            n = self.store.incr("execIds")
            now = _iso(_now())
            fill = {
                "execID": f"{self.venue}-E{n}",
                "venueOrderId": doc["venueOrderId"],
                "clOrdID": doc["clOrdID"],
                "account": doc.get("account"),
                "symbol": doc["symbol"],
                "side": doc["side"],
                "lastQty": _s(fill_qty),
                "lastPx": _s(px),
                "transactTime": now,
            }
            self.store.push("fills", fill)
            self._position(doc.get("account") or "", doc["symbol"], doc["side"], fill_qty, px)
            cum = _d(doc["cumQty"]) + fill_qty
            doc.update(
                cumQty=_s(cum),
                grossAmt=_s(_d(doc["grossAmt"]) + fill_qty * px),
                status="Filled" if cum >= _d(doc["orderQty"]) else "PartiallyFilled",
                updatedAt=now,
            )
            self._publish({"kind": "fill", **fill})
            leaves -= fill_qty
        if leaves > 0 and doc.get("timeInForce") in ("IOC", "FOK"):
            doc.update(status="Canceled", text="IOC/FOK remainder canceled", updatedAt=_iso(_now()))
        if fill_qty > 0 or doc["status"] == "Canceled":
            self._save(doc)
            self._publish_order(doc)
        return doc

    def _save(self, doc: Doc) -> None:
        self.store.hset("orders", doc["clOrdID"], doc)
        orig = doc.get("origClOrdID")
        if orig:
            self.store.hset("orders", orig, {**doc, "replacedBy": doc["clOrdID"]})

    def _position(self, account: str, symbol: str, side: str, qty: Decimal, px: Decimal) -> None:
        key = f"{account}|{symbol}"
        pos = self.store.hget("positions", key) or {
            "account": account,
            "symbol": symbol,
            "qty": "0",
            "avgPx": None,
        }
        old = _d(pos["qty"])
        signed = qty if side == "Buy" else -qty
        new = old + signed
        avg = None if pos["avgPx"] is None else _d(pos["avgPx"])
        if new == 0:
            avg = None
        elif old == 0 or (old > 0) != (new > 0) or avg is None:
            avg = px  # opened, or flipped through zero
        elif (old > 0) == (signed > 0):
            avg = (avg * abs(old) + px * qty) / abs(new)  # added to the position
        pos.update(qty=_s(new), avgPx=None if avg is None else _s(avg), updatedAt=_iso(_now()))
        self.store.hset("positions", key, pos)

    def _publish_order(self, doc: Doc) -> None:
        self._publish({"kind": "order", **{k: v for k, v in doc.items() if k != "replacedBy"}})

    def _publish(self, message: Doc) -> None:
        """Give the message its seq and put it on the stream, through the stream faults."""
        gap = int(self.faults().get("seqGap") or 0)
        if gap > 0:
            self.store.incr("seq", gap)
            self.set_faults_locked(seqGap=0)
        message["seq"] = self.store.incr("seq")
        if self._take("dropStream"):
            return
        if message["kind"] == "fill" and self._take("reorderFills"):
            self.store.hset("config", "held", message)
            return
        self.store.push(STREAM, message)
        if message["kind"] == "fill" and self._take("duplicateFills"):
            self.store.push(STREAM, {**message, "seq": self.store.incr("seq")})
        held = self.store.hget("config", "held")
        if held and held["seq"] != message["seq"]:
            self.store.hset("config", "held", {})
            if held.get("seq"):
                self.store.push(STREAM, held)

    def set_faults_locked(self, **faults: Any) -> None:
        current = {**self.faults(), **faults}
        self.store.hset("config", "faults", {k: v for k, v in current.items() if v})

    # --- records -------------------------------------------------------------------------------

    def _report(self, doc: Doc, seq: int | None = None) -> VenueOrderReport:
        cum = _d(doc["cumQty"])
        gross = _d(doc["grossAmt"])
        return VenueOrderReport(
            venue=self.venue,
            venue_order_id=doc["venueOrderId"],
            cl_ord_id=doc["clOrdID"],
            symbol=doc["symbol"],
            side=VenueSide(doc["side"]),
            status=VenueOrderStatus(doc["status"]),
            order_qty=_d(doc["orderQty"]),
            cum_qty=cum,
            avg_px=gross / cum if cum > 0 else None,
            price=None if doc.get("price") is None else _d(doc["price"]),
            ts_event=_time(doc["updatedAt"]),
            text=doc.get("text"),
            seq=seq,
        )

    def _fill(self, f: Doc, seq: int | None = None) -> VenueFill:
        return VenueFill(
            venue=self.venue,
            exec_id=f["execID"],
            venue_order_id=f["venueOrderId"],
            cl_ord_id=f["clOrdID"],
            symbol=f["symbol"],
            side=VenueSide(f["side"]),
            last_qty=_d(f["lastQty"]),
            last_px=_d(f["lastPx"]),
            ts_event=_time(f["transactTime"]),
            account=f.get("account"),
            seq=seq,
        )

    def message_record(self, m: Doc) -> VenueOrderReport | VenueFill | VenueBook:
        if m["kind"] == "book":
            return self._book(m, m["seq"])
        return self._fill(m, m["seq"]) if m["kind"] == "fill" else self._report(m, m["seq"])

    def _book(self, m: Doc, seq: int | None = None) -> VenueBook:
        bids = ((_d(m["bidPx"]), _d(m["bidSize"])),) if m["bidPx"] is not None else ()
        asks = ((_d(m["askPx"]), _d(m["askSize"])),) if m["askPx"] is not None else ()
        return VenueBook(self.venue, m["symbol"], bids, asks, _time(m["asOf"]), seq)

    def reset(self) -> None:
        """Forget everything (tests, a demo restart); the Redis lock key goes too."""
        self.store.clear()
