"""Reads of positions: the query API (`GET /api/queries/positions`, `/{positionId}`, `/events`)
with the unrealized P&L against the book's mid added at read time, and the positions the
pre-trade checks read (registered with `rules.intent`, which knows no positions model)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from oms.core import sql
from oms.core.parsing import dec_str
from oms.core.readside import register_read
from oms.core.specification import Field as Criterion
from oms.core.specification import Specification
from oms.positions.models import Position
from oms.positions.repository import POSITION, positions_ahead
from rules.books import mids
from rules.controls import register_open_discrepancies
from rules.intent import PositionView, register_positions


class PositionSpecification(Specification):
    fields = {
        "position_id": Criterion("position_id", "in", param="positionId"),
        "account": Criterion("account", "in"),
        "venue": Criterion("venue", "in"),
        "symbol": Criterion("symbol", "in"),
    }
    orderings = {
        "account": "account",
        "venue": "venue",
        "symbol": "symbol",
        "qty": "qty",
        "updatedAt": "updated_at",
    }
    default_ordering = ("account", "symbol", "venue", "position_id")
    id_column = "position_id"


def with_unrealized(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`markPx` (the book's mid) and `unrealizedPnl` = (mid - avgCost) x qty x multiplier, null
    without a book (or a one-sided one). Read time only: a price is not an event of the position."""
    marks = mids({(d["venue"], d["symbol"]) for d in docs if d.get("venue")})
    out = []
    for doc in docs:
        mid = marks.get((doc["venue"], doc["symbol"])) if doc.get("venue") else None
        unrealized = None
        if mid is not None:
            qty = Decimal(doc["qty"])
            unrealized = (
                (mid - Decimal(doc["avgCost"])) * qty * Decimal(doc["multiplier"]) if qty else Decimal(0)
            )
        out.append({**doc, "markPx": dec_str(mid), "unrealizedPnl": dec_str(unrealized)})
    return out


POSITIONS = register_read(
    POSITION, path="positions", specification=PositionSpecification, present=with_unrealized
)


def _view(doc: dict[str, Any]) -> PositionView:
    return PositionView(
        account=doc["account"],
        venue=doc["venue"] or "",
        symbol=doc["symbol"],
        qty=Decimal(doc["qty"]),
        avg_cost=Decimal(doc["avgCost"]),
        multiplier=Decimal(doc["multiplier"]),
        open_buy_qty=Decimal(doc["openBuyQty"]),
        open_sell_qty=Decimal(doc["openSellQty"]),
        dirty_reasons=tuple(doc["dirtyReasons"]),
    )


def positions_in_scope(account: str | None, symbol: str | None) -> list[PositionView]:
    """The positions of an account and symbol (None: every one), every venue."""
    rows = Position.objects.all()
    if account is not None:
        rows = rows.filter(account=account)
    if symbol is not None:
        rows = rows.filter(symbol=symbol)
    return [_view(doc) for doc in rows.values_list("doc", flat=True)]


# Hand-written (oms.core.sql): appended to the reference read every new order sends with its
# clOrdID reservation (rules.pretrade.prefetch), in that read's row shape (rules.reference: the
# tag rules gives, then six columns; the document fourth, as text: `_view_of_text` builds a
# document's view once per exact text; the fill lots fifth, so that the order's own position can
# be written from these rows: oms.positions.repository.positions_ahead), one statement with the
# checks' other reads
_SELECT = "SELECT {tag}, NULL, NULL, CAST(doc AS TEXT), CAST(fills AS TEXT), NULL, NULL FROM positions"


def positions_query(account: str | None, symbol: str | None, tag: int) -> tuple[str, list[Any]]:
    where, params = [], []
    for clause, value in (("account = %s", account), ("symbol = %s", symbol)):
        if value is not None:
            where.append(clause)
            params.append(value)
    select = _SELECT.format(tag=int(tag))
    return (f"{select} WHERE {' AND '.join(where)}" if where else select), params


# every create reads the positions of its account and symbol, which change only with that pair's
# orders and fills: the text of a document read before is the same view (a moved position is
# another text, built anew), so the JSON and the Decimals are decoded once per version of the row
_view_of_text = sql.ByText(_view)


def positions_of_rows(rows: list[tuple[Any, ...]]) -> list[PositionView]:
    return [_view_of_text(row[3]) for row in rows]


register_positions(positions_in_scope, positions_query, positions_of_rows, positions_ahead)


def open_discrepancies(scope: str, key: str) -> int:
    """Positions reconciliation found different and not resolved (a `discrepancy:` reason) in a
    SAFE-mode scope: `global` ("*"), `venue`, `account`, `symbol` (or `VENUE:SYMBOL`). SAFE mode
    is not released while there is one (rules.controls)."""
    rows = Position.objects.filter(dirty=True)
    if scope == "venue":
        rows = rows.filter(venue=key)
    elif scope == "account":
        rows = rows.filter(account=key)
    elif scope == "symbol":
        venue, _, symbol = key.rpartition(":") if ":" in key else ("", "", key)
        rows = rows.filter(symbol=symbol, **({"venue": venue} if venue else {}))
    return sum(
        any(r.startswith("discrepancy:") for r in doc["dirtyReasons"])
        for doc in rows.values_list("doc", flat=True)
    )


register_open_discrepancies(open_discrepancies)
