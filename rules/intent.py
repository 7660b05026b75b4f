"""The order as the pre-trade checks see it, and what they read for it (each read once)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from typing import Any

from oms.core.eventstore import UnitOfWork
from rules import counters, reference
from rules.books import BookView
from rules.controls import ControlState, InForce, in_force, in_force_of
from rules.instruments import InstrumentState, has_adapter
from rules.limits import Effective, limits_of
from rules.venues import VenueState

LIMIT_TYPES = ("Limit", "StopLimit")  # ordTypes carrying a limit price


def _dec(value: object) -> Decimal | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, Decimal) else Decimal(str(value))


@dataclass(frozen=True)
class OrderIntent:
    """The order (typed), built from the orders app's mapping of API fields."""

    symbol: str
    side: str
    order_qty: Decimal
    ord_type: str
    account: str | None = None
    venue: str | None = None
    price: Decimal | None = None
    stop_px: Decimal | None = None
    kind: str = "Client"
    order_id: str | None = None  # a replace: the order being replaced
    replaces_qty: Decimal | None = None  # a replace: the orderQty it replaces

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> OrderIntent:
        return cls(
            symbol=str(data.get("symbol") or ""),
            side=str(data.get("side") or ""),
            order_qty=_dec(data.get("orderQty")) or Decimal(0),
            ord_type=str(data.get("ordType") or "Market"),
            account=data.get("account"),
            venue=data.get("venue"),
            price=_dec(data.get("price")),
            stop_px=_dec(data.get("stopPx")),
            kind=str(data.get("kind") or "Client"),
            order_id=data.get("orderId"),
        )

    @property
    def is_buy(self) -> bool:
        return self.side == "Buy"

    @property
    def has_limit(self) -> bool:
        return self.ord_type in LIMIT_TYPES and self.price is not None

    @property
    def added_qty(self) -> Decimal:
        """What this order adds to the open quantity of its positions: a new client order its
        quantity, a replace what it adds; a child order nothing (its parent's quantity already
        counts it, the positions' projection moves it to the child's venue when it is placed)."""
        if self.kind != "Client":
            return Decimal(0)
        if self.replaces_qty is not None:
            return max(self.order_qty - self.replaces_qty, Decimal(0))
        return self.order_qty

    @property
    def sign(self) -> int:
        return 1 if self.is_buy else -1


@dataclass(frozen=True)
class PositionView:
    """A position as the checks read it: its fill quantity and its open orders, per venue ("" for
    the orders not yet routed to one)."""

    account: str
    venue: str
    symbol: str
    qty: Decimal
    avg_cost: Decimal
    multiplier: Decimal
    open_buy_qty: Decimal
    open_sell_qty: Decimal
    dirty_reasons: tuple[str, ...] = ()

    @property
    def dirty(self) -> bool:
        return bool(self.dirty_reasons)


Positions = Callable[[str | None, str | None], list[PositionView]]
# (account, symbol; None for every one, tag) -> (SQL, params) selecting the positions' rows in the
# reference read's row shape (rules.reference: the tag, then six columns), appended by UNION ALL
# to the statement a prefetch sends; and the rows it answers (of that tag) -> the positions
PositionsQuery = Callable[[str | None, str | None, int], tuple[str, list[Any]]]
PositionsOfRows = Callable[[list[tuple[Any, ...]]], list[PositionView]]
_positions: list[Positions] = []
_positions_query: list[tuple[PositionsQuery, PositionsOfRows]] = []
# hands the rows of an order's own positions scope to its unit of work (the positions' projection
# then takes the order's position from them on an optimistic attempt instead of reading it again)
PositionsAhead = Callable[[UnitOfWork, str, str, list[tuple[Any, ...]]], None]
_positions_ahead: list[PositionsAhead] = []
# the tags of the positions' rows in the reference read (rules.controls takes 1 and 2): the
# order's own account and symbol, and `maxOpenNotional`'s wider scope when it is another one
POSITIONS_TAGS = (3, 4)


def register_positions(
    source: Positions,
    query: PositionsQuery | None = None,
    of_rows: PositionsOfRows | None = None,
    ahead: PositionsAhead | None = None,
) -> Positions:
    """The positions app registers its read (account, symbol; None for every one), and the
    statement that selects them with how to read its rows when it can be sent ahead
    (rules.pretrade.prefetch), and what to do with the rows of an order's own scope in its unit of
    work (`ahead`): the rules engine knows no positions model."""
    _positions[:] = [source]
    _positions_query[:] = [(query, of_rows)] if query is not None and of_rows is not None else []
    _positions_ahead[:] = [ahead] if ahead is not None else []
    return source


def positions(account: str | None, symbol: str | None) -> list[PositionView]:
    return _positions[0](account, symbol) if _positions else []


def positions_query(account: str | None, symbol: str | None, tag: int) -> tuple[str, list[Any]] | None:
    return _positions_query[0][0](account, symbol, tag) if _positions_query else None


def positions_of(rows: list[tuple[Any, ...]]) -> list[PositionView]:
    return _positions_query[0][1](rows) if _positions_query else []


PositionsKey = tuple[str | None, str | None]


@dataclass
class Prefetched:
    """Statements sent ahead for one order (in the pipeline of the clOrdID reservation), their
    answers read when a check first needs them. Each is used only for exactly the read it was
    sent for: the order's venue and symbol, a positions scope (account, symbol), a throttle
    bucket and window."""

    venue: str | None
    symbol: str
    now: dt.datetime
    reference: Any = None  # cursor of rules.reference.send_read
    # positions scope (account, symbol) -> the tag of its rows in the reference read
    positions: dict[PositionsKey, int] = field(default_factory=dict)
    counts: dict[tuple[str, int], Any] = field(default_factory=dict)  # (bucket, window) -> cursor
    account: str | None = None
    with_controls: bool = False  # the reference read also carries the controls in force
    taken: reference.Read | None = None  # the reference read's answer
    in_force: InForce | None = None  # ... and its controls in force (with_controls)
    position_rows: dict[int, list[tuple[Any, ...]]] = field(default_factory=dict)  # ... and positions
    # the unit of work of the order the reads were sent for: the rows of its own positions scope
    # (account, symbol) are handed to it (register_positions' `ahead`)
    uow: UnitOfWork | None = None

    def _take(self) -> None:
        if self.taken is None and self.reference is not None:
            cur, self.reference = self.reference, None
            self.taken, rows = reference.take_read(cur, self.venue, self.symbol)
            if self.with_controls:
                self.in_force = in_force_of(rows)
            if self.positions:
                for tag in self.positions.values():
                    self.position_rows[tag] = []
                for row in rows:
                    if row[0] in self.position_rows:
                        self.position_rows[row[0]].append(row)
                own = self.positions.get((self.account, self.symbol))
                if self.uow is not None and own is not None and self.account and _positions_ahead:
                    _positions_ahead[0](self.uow, self.account, self.symbol, list(self.position_rows[own]))

    def reference_for(self, venue: str | None, symbol: str) -> reference.Read | None:
        """The answer of the reference read sent for exactly this venue and symbol, read once and
        kept: routing (the rules' version) and the checks (limits, instruments, book) share it."""
        if (self.venue, self.symbol) != (venue, symbol):
            return None
        self._take()
        return self.taken

    def in_force_for(self, venue: str | None, account: str | None, symbol: str) -> InForce | None:
        """The controls in force read with the reference data for exactly this order's scope."""
        if (self.venue, self.account, self.symbol) != (venue, account, symbol) or not self.with_controls:
            return None
        self._take()
        return self.in_force

    def positions_for(self, account: str | None, symbol: str | None) -> list[tuple[Any, ...]] | None:
        """The positions' rows read with the reference data for exactly this scope, once (None:
        not sent for it)."""
        tag = self.positions.pop((account, symbol), None)
        if tag is None:
            return None
        self._take()
        return self.position_rows.pop(tag, None)

    def close(self) -> None:
        """Drain what no check asked for (a cursor must not stay open in the transaction)."""
        for cur in [self.reference, *self.counts.values()]:
            if cur is not None:
                cur.close()
        self.reference = None
        self.positions.clear()
        self.position_rows.clear()
        self.counts.clear()


class Lookups:
    """What the checks read for one order, each at most once: the reference data (instruments,
    limits) from the in-process cache and the order's book, in one round trip (rules.reference),
    or from the statements sent ahead for it (`Prefetched`).

    `counting`: the order is being written (the throttles count it); False for the preview, which
    only looks at the counters."""

    def __init__(self, intent: OrderIntent, *, counting: bool = True, prefetched: Prefetched | None = None):
        self.intent = intent
        self.counting = counting
        self.prefetched = prefetched

    @cached_property
    def now(self) -> dt.datetime:
        return self.prefetched.now if self.prefetched is not None else counters.now()

    @cached_property
    def _reference(self) -> tuple[reference.Snapshot, BookView | None]:
        i, sent = self.intent, self.prefetched
        taken = sent.reference_for(i.venue, i.symbol) if sent is not None else None
        return taken if taken is not None else reference.read(i.venue, i.symbol)

    def positions_in(self, account: str | None, symbol: str | None) -> list[PositionView]:
        """The positions of an account and symbol (None: every one), every venue: the answer sent
        ahead for exactly that scope, else read now."""
        rows = self.prefetched.positions_for(account, symbol) if self.prefetched else None
        return positions(account, symbol) if rows is None else positions_of(rows)

    @cached_property
    def positions(self) -> list[PositionView]:
        """The positions of the order's account and symbol, every venue."""
        return self.positions_in(self.intent.account, self.intent.symbol)

    def count(self, bucket: str, start: int) -> int:
        """The throttle's count of `bucket` in the window from `start`, this order included
        (counted when the order is being written; only looked at otherwise)."""
        if not self.counting:
            return counters.peek([bucket], start)[bucket]
        cur = self.prefetched.counts.pop((bucket, start), None) if self.prefetched else None
        if cur is None:
            return counters.count([bucket], start)[bucket]
        return counters.take_count(cur)[bucket]

    @cached_property
    def instruments(self) -> list[InstrumentState]:
        """A venue with an adapter: its own instrument, always (missing -> unknown_instrument).
        MANUAL, a desk venue or none: the venue's instrument if it has one, else every instrument
        of the symbol; none at all -> not checked (the first part of the contract knows none)."""
        i = self.intent
        snapshot = self._reference[0]
        if i.venue:
            own = snapshot.instruments.get((i.venue, i.symbol))
            if own is not None or self.has_adapter:
                return [own] if own is not None else []
        return list(snapshot.by_symbol.get(i.symbol, []))

    @cached_property
    def _in_force(self) -> InForce:
        i, sent = self.intent, self.prefetched
        held = sent.in_force_for(i.venue, i.account, i.symbol) if sent is not None else None
        return held if held is not None else in_force(i.venue, i.account, i.symbol)

    @property
    def venue(self) -> VenueState | None:
        """The order's venue in the registry (None: not registered, or no venue)."""
        return self._in_force[0]

    @property
    def safe_modes(self) -> list[ControlState]:
        """The SAFE modes in force that hold this order, oldest first."""
        return self._in_force[1]

    @property
    def has_adapter(self) -> bool:
        """The registry's adapter when the venue is registered (a `BINANCE` on `ccxt:binance`),
        else the contract's names (`SIM`, `ccxt:*`)."""
        return self.venue.has_adapter if self.venue is not None else has_adapter(self.intent.venue)

    @cached_property
    def multiplier(self) -> Decimal:
        enabled = [i for i in self.instruments if i.enabled]
        return enabled[0].multiplier if enabled else Decimal(1)

    @cached_property
    def limits(self) -> Mapping[str, Effective]:
        return limits_of(self._reference[0], self.intent.account, self.intent.symbol)

    @cached_property
    def book(self) -> BookView | None:
        return self._reference[1]

    @cached_property
    def reference_px(self) -> Decimal | None:
        """The book's far touch. A stale book (`stale` in the book query) still prices when it was
        set (SIM's and the hand-set books, MANUAL, the demo, change only when set, so a staleness
        cut-off would refuse every order at them a few minutes after the last set); a streamed
        one does not: its stream stopped, and its prices are the past's (`book_stream_stopped`)."""
        if self.book is None or self.book_stream_stopped:
            return None
        return self.book.reference(self.intent.side)

    @cached_property
    def book_stream_stopped(self) -> bool:
        """The order's book came from a venue's stream that has not rewritten it for
        OMS_BOOK_STALE_SECONDS (rules.books)."""
        return self.book is not None and self.book.stream_stopped(self.now)

    @cached_property
    def px(self) -> Decimal | None:
        """The price the order's notional is counted at: its limit, else the reference."""
        return self.intent.price if self.intent.has_limit else self.reference_px

    def notional(self, qty: Decimal, px: Decimal | None) -> Decimal | None:
        return None if px is None else qty * px * self.multiplier
