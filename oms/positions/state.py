"""Position state and its pure `apply(state, event) -> state` (no Django), live and in replay.

The position is the fold of its live fills, in the order they were applied:

* `qty` is signed (buys +, sells -);
* `avgCost` is the quantity-weighted price of the open quantity: a fill that adds to the position
  re-weights it, a fill that reduces it leaves it, a fill that crosses zero starts it again at the
  fill's price (the new side's only lot), and a flat position has none (0);
* `realizedPnl` grows on each reducing fill by closed qty x (px - avgCost) x the position's sign
  x the instrument's multiplier (contract size; futures and perpetuals: quote currency).

A correction replaces the fill in its place and a bust removes it, then the live fills are folded
again: the position is then exactly what it would have been had the venue reported the corrected
fill (or none) in the first place. New fills only step the fold.

The state keeps at most `MAX_LIVE_FILLS` fills (the column is rewritten with every fill): older
ones are folded into `base`, which the fold starts from. A correction or bust of a fill already
folded into the base cannot be re-folded in place: it is applied at the end instead (the fill
reversed at its own price, then the corrected one appended), so `qty` stays exact and the average
cost and realized P&L take it as a trade of today.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from oms.core.documents import Document, boolean, decimal, document, integer, stamps, string, strings
from oms.core.fold import Envelope, event_applier
from oms.core.parsing import dec_str

ZERO = Decimal(0)
MAX_LIVE_FILLS = 500  # corrections and busts older than this many fills are applied at the end
REVERSAL = "~reversed"  # suffix of the entry that reverses a fill folded into the base


@dataclass(frozen=True)
class Fill:
    """A live fill of the position: the execution, its signed quantity, price and multiplier."""

    execution_id: str
    qty: Decimal
    px: Decimal
    multiplier: Decimal

    def to_json(self) -> list[str]:
        return [self.execution_id, dec_str(self.qty), dec_str(self.px), dec_str(self.multiplier)]

    @classmethod
    def from_json(cls, raw: list[str]) -> Fill:
        return cls(raw[0], Decimal(raw[1]), Decimal(raw[2]), Decimal(raw[3]))


@dataclass(frozen=True)
class Book:
    """What the fills fold to."""

    qty: Decimal = ZERO
    avg_cost: Decimal = ZERO
    realized_pnl: Decimal = ZERO


def step(book: Book, qty: Decimal, px: Decimal, multiplier: Decimal) -> Book:
    """One fill (signed `qty` at `px`) applied to the position `book`."""
    held = book.qty
    if held == 0 or (held > 0) == (qty > 0):
        total = abs(held) + abs(qty)
        avg = (book.avg_cost * abs(held) + px * abs(qty)) / total
        return Book(held + qty, avg, book.realized_pnl)
    closed = min(abs(qty), abs(held))
    sign = 1 if held > 0 else -1
    realized = book.realized_pnl + closed * (px - book.avg_cost) * sign * multiplier
    after = held + qty
    if after == 0:
        return Book(ZERO, ZERO, realized)
    if (after > 0) == (held > 0):
        return Book(after, book.avg_cost, realized)
    return Book(after, px, realized)  # crossed through zero: the rest opens the other side


def fold(fills: list[Fill], base: Book | None = None) -> Book:
    book = base or Book()
    for f in fills:
        book = step(book, f.qty, f.px, f.multiplier)
    return book


@dataclass
class PositionState:
    position_id: str
    account: str
    venue: str  # "" for the open orders not yet routed to a venue
    symbol: str
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
    qty: Decimal = ZERO
    avg_cost: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    multiplier: Decimal = Decimal(1)  # the last fill's (the instrument's contract size)
    open_buy_qty: Decimal = ZERO
    open_sell_qty: Decimal = ZERO
    dirty_reasons: list[str] = field(default_factory=list)  # sorted, each once
    fills: list[Fill] = field(default_factory=list)  # the live fills, oldest first
    base: Book = field(default_factory=Book)  # what the fills older than `fills` fold to

    @property
    def dirty(self) -> bool:
        return bool(self.dirty_reasons)

    def set_book(self, book: Book) -> None:
        self.qty, self.avg_cost, self.realized_pnl = book.qty, book.avg_cost, book.realized_pnl


# --- apply --------------------------------------------------------------------------------------


def _d(data: dict[str, Any], key: str) -> Decimal:
    return Decimal(data[key]) if key in data else ZERO


def _opened(env: Envelope) -> PositionState:
    d = env.data
    return PositionState(
        position_id=env.aggregate_id,
        account=d["account"],
        venue=d["venue"],
        symbol=d["symbol"],
        version=env.version,
        created_at=env.recorded_at,
        updated_at=env.recorded_at,
    )


def _open_orders(s: PositionState, d: dict[str, Any]) -> None:
    s.open_buy_qty += _d(d, "openBuyQtyDelta")
    s.open_sell_qty += _d(d, "openSellQtyDelta")
    # never refused here, even below zero (orders open before positions existed, without a
    # backfill): refusing would refuse the cancel that closes them


def _index(s: PositionState, execution_id: str) -> int | None:
    for i, f in enumerate(s.fills):
        if f.execution_id == execution_id:
            return i
    return None


def _append(s: PositionState, *fills: Fill) -> None:
    """New fills at the end (new lists: the state before the event keeps its own); the oldest
    beyond `MAX_LIVE_FILLS` go into the base, which changes nothing the fold gives."""
    live = [*s.fills, *fills]
    book = Book(s.qty, s.avg_cost, s.realized_pnl)
    for f in fills:
        book = step(book, f.qty, f.px, f.multiplier)
    if len(live) > MAX_LIVE_FILLS:
        cut = len(live) - MAX_LIVE_FILLS
        s.base = fold(live[:cut], s.base)
        live = live[cut:]
    s.fills = live
    s.set_book(book)


def _reversal(s: PositionState, d: dict[str, Any]) -> Fill:
    """The entry that takes a fill folded into the base back out, at its own price."""
    qty_key, px_key = (
        ("previousSignedQty", "previousPx") if "previousSignedQty" in d else ("signedQty", "lastPx")
    )
    return Fill(d["executionId"] + REVERSAL, -Decimal(d[qty_key]), Decimal(d[px_key]), s.multiplier)


def _filled(s: PositionState, d: dict[str, Any]) -> None:
    _open_orders(s, d)
    fill = Fill(d["executionId"], Decimal(d["signedQty"]), Decimal(d["lastPx"]), Decimal(d["multiplier"]))
    s.multiplier = fill.multiplier
    _append(s, fill)


def _corrected(s: PositionState, d: dict[str, Any]) -> None:
    _open_orders(s, d)
    i = _index(s, d["executionId"])
    if i is None:  # folded into the base: reversed and booked again at the end
        new = Fill(d["executionId"], Decimal(d["signedQty"]), Decimal(d["lastPx"]), s.multiplier)
        _append(s, _reversal(s, d), new)
        return
    old = s.fills[i]
    fills = list(s.fills)
    fills[i] = Fill(old.execution_id, Decimal(d["signedQty"]), Decimal(d["lastPx"]), old.multiplier)
    s.fills = fills
    s.set_book(fold(fills, s.base))


def _busted(s: PositionState, d: dict[str, Any]) -> None:
    _open_orders(s, d)
    i = _index(s, d["executionId"])
    if i is None:  # folded into the base: reversed at the end
        _append(s, _reversal(s, d))
        return
    s.fills = [*s.fills[:i], *s.fills[i + 1 :]]
    s.set_book(fold(s.fills, s.base))


def _marked(s: PositionState, d: dict[str, Any]) -> None:
    s.dirty_reasons = sorted({*s.dirty_reasons, d["reason"]})


def _cleared(s: PositionState, d: dict[str, Any]) -> None:
    s.dirty_reasons = [r for r in s.dirty_reasons if r != d["reason"]]


apply = event_applier(
    "PositionOpened",
    _opened,
    {
        "PositionOpenOrdersChanged": _open_orders,
        "PositionFilled": _filled,
        "PositionFillCorrected": _corrected,
        "PositionFillBusted": _busted,
        "PositionMarkedDirty": _marked,
        "PositionDirtyCleared": _cleared,
    },
)


# --- documents ----------------------------------------------------------------------------------


POSITION_DOCUMENT: Document[PositionState] = document(
    "PositionState",
    [
        string("positionId"),
        string("account"),
        string(
            "venue",
            null=True,
            help="null: open orders not yet routed to a venue",
            compute=lambda s: s.venue or None,
            decode=lambda d: d["venue"] or "",
        ),
        string("symbol"),
        decimal("qty", help="signed (buys +, sells -): the sum of the applied executions"),
        decimal("avgCost", help="weighted price of the open quantity; 0 when flat"),
        decimal("realizedPnl", help="on reducing fills, x multiplier (quote currency)"),
        decimal("multiplier"),
        boolean("dirty", derived=True, help="fills in flight or unreconciled: adding orders are refused"),
        strings("dirtyReasons"),
        decimal("openBuyQty"),
        decimal("openSellQty"),
        decimal("worstLong", compute=lambda s: dec_str(s.qty + s.open_buy_qty), help="qty + openBuyQty"),
        decimal("worstShort", compute=lambda s: dec_str(s.qty - s.open_sell_qty), help="qty - openSellQty"),
        integer("fillCount", compute=lambda s: len(s.fills), help="live fills (busted ones left out)"),
        *stamps(),
    ],
    # the read side adds them (`oms.positions.selectors.with_unrealized`): a price is no event
    read_time=[
        decimal(
            "unrealizedPnl",
            null=True,
            help="(markPx - avgCost) x qty x multiplier; null without a book",
        ),
        decimal("markPx", null=True, help="the book's mid, at read time"),
    ],
)
to_api = POSITION_DOCUMENT.encode


def fills_to_json(s: PositionState) -> dict[str, Any]:
    """The `fills` column: the base the live fills start from, and the live fills."""
    b = s.base
    return {
        "base": [dec_str(b.qty), dec_str(b.avg_cost), dec_str(b.realized_pnl)],
        "live": [f.to_json() for f in s.fills],
    }


def from_api(d: dict[str, Any], fills: dict[str, Any]) -> PositionState:
    return PositionState(
        **POSITION_DOCUMENT.decode(d),
        fills=[Fill.from_json(f) for f in fills.get("live", [])],
        base=Book(*(Decimal(v) for v in fills["base"])) if fills.get("base") else Book(),
    )
