"""Registers positions with the event store, and loads one for update inside a command."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from decimal import Decimal
from operator import attrgetter
from typing import Any

from django.db import connection

from oms.core import sql
from oms.core.eventstore import AggregateType, UnitOfWork, register
from oms.positions import state as position_state
from oms.positions.events import PositionOpened
from oms.positions.models import Position, PositionEvent
from oms.positions.state import PositionState

EVENT_TOPIC = "position-events"


def from_row(row: Position) -> PositionState:
    return position_state.from_api(row.doc, row.fills)


POSITION: AggregateType[PositionState] = register(
    AggregateType(
        name="position",
        topic=EVENT_TOPIC,
        state_model=Position,
        event_model=PositionEvent,
        apply=position_state.apply,
        to_api=position_state.to_api,
        document=position_state.POSITION_DOCUMENT,
        from_row=from_row,
        # the document says null for an unrouted venue, the column ""; the lots live beside it
        row_columns={"venue": attrgetter("venue"), "fills": position_state.fills_to_json},
    )
)


def position_id(account: str, venue: str, symbol: str) -> str:
    """The id of the position of (account, venue, symbol): derived, so that two transactions
    opening the same position collide on its primary key (one retries and finds it) and a rebuilt
    database names it the same."""
    digest = hashlib.sha256("\x1f".join((account, venue, symbol)).encode()).hexdigest()[:24]
    return f"P{digest.upper()}"


# the fill's instrument (its multiplier) read in the statement that locks the position: a fill
# pays one round trip for its position, not two (the rules app owns the `instruments` table)
_INSTRUMENT = "(SELECT doc FROM instruments WHERE venue = %s AND symbol = %s)"
_LOCK = f"SELECT doc, fills, {_INSTRUMENT} FROM positions WHERE position_id = %s"
_LOCK_SQL = {True: _LOCK + " FOR UPDATE", False: _LOCK}
_INSTRUMENT_SQL = "SELECT " + _INSTRUMENT


def _multiplier(instrument: Any) -> Decimal:
    doc = sql.json_value(instrument) if instrument is not None else None
    return Decimal(doc["multiplier"]) if doc else Decimal(1)


def positions_ahead(uow: UnitOfWork, account: str, symbol: str, rows: list[tuple[Any, ...]]) -> None:
    """The positions of an account and symbol as a new order's pre-trade read returned them (the
    document fourth, the fill lots fifth, as text), in the statement sent with its clOrdID claim:
    on an optimistic attempt the order's own position is taken from here (`locked_position`), one
    round trip fewer. They are as current as a read of their own would be (unlocked, read
    committed, a few statements earlier in the same transaction); the write is a compare-and-set
    on their version, and a position absent here but inserted meanwhile fails its primary key:
    either makes the commit raise `Contended` and the locked retry reads the row."""
    if not uow.optimistic:
        return
    by_id: dict[str, tuple[Any, Any]] = {}
    for row in rows:
        doc = sql.json_value(row[3])
        by_id[position_id(account, doc.get("venue") or "", symbol)] = (doc, row[4])
    uow.ahead[("positions", account, symbol)] = by_id


def position_for_update(uow: UnitOfWork, account: str, venue: str, symbol: str) -> PositionState:
    """The position in this unit of work: as already changed by it, else its row locked (after
    the order tree the command holds: one lock order), else opened by a `PositionOpened`."""
    return locked_position(uow, account, venue, symbol)[0]


def locked_position(
    uow: UnitOfWork, account: str, venue: str, symbol: str
) -> tuple[PositionState, Callable[[], Decimal]]:
    """`position_for_update`, and the instrument's multiplier (contract size; 1 without one) as
    a function, read with the lock when the row had to be read anyway."""
    pid = position_id(account, venue, symbol)

    def lookup() -> Decimal:
        return _multiplier(sql.fetch_all(_INSTRUMENT_SQL, [venue, symbol])[0][0])

    known = uow.state_of(POSITION, pid)
    if known is not None:
        return known, lookup
    ahead = uow.ahead.get(("positions", account, symbol)) if uow.optimistic else None
    if ahead is not None:  # read with the pre-trade checks' statement: no round trip of its own
        found = ahead.get(pid)
        if found is not None:
            doc, fills = found
            return position_state.from_api(doc, sql.json_value(fills) if fills else {}), lookup
        opened = uow.emit(POSITION, pid, None, PositionOpened(account=account, venue=venue, symbol=symbol))
        return opened, lookup
    # locked after the order tree the command holds; an optimistic attempt locks nothing before
    # its commit (which writes the position after the orders, compare-and-set on this version):
    # a lock taken here would come before the orders' and deadlock with a locked attempt
    lock = connection.vendor == "postgresql" and not uow.optimistic
    rows = sql.fetch_all(_LOCK_SQL[lock], [venue, symbol, pid])
    if rows:
        doc, fills, instrument = rows[0]
        multiplier = _multiplier(instrument)
        return position_state.from_api(sql.json_value(doc), sql.json_value(fills)), lambda: multiplier
    opened = uow.emit(POSITION, pid, None, PositionOpened(account=account, venue=venue, symbol=symbol))
    return opened, lookup
