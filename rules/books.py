"""Books: the reference prices of the price collar and the preview, until venues stream them.

`SetBookCommand` (`venue`, `symbol`, `bids`, `asks`) on `books` sets one by hand (desk or
superuser: the API's command role); `GET /api/queries/books/{venue}/{symbol}` reads it. Books are
current state, not events (the contract). The reference price is the far touch (the ask for a
buy, the bid for a sell), or the mid when one side is empty; a venue-less order takes the
freshest book of its symbol.

A book remembers who wrote it (`source`, not in the book document): a venue's book stream
(oms.venues.bookfeed, inside `streamed_books()`) or anyone else (a person's SetBookCommand,
SimSetMarketCommand, the demo). A streamed book is rewritten while its stream speaks, so one
older than OMS_BOOK_STALE_SECONDS means the stream stopped: it is no reference price (the
pre-trade checks refuse `no_reference_price`). A set book changes only when set: it prices
whatever its age.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Q
from pydantic import field_validator

from oms.core.commands import Command, Id, Qty
from oms.core.dispatch import Outcome, command_handler
from oms.core.errors import NotFound, ValidationFailed
from oms.core.eventstore import UnitOfWork
from oms.core.parsing import dec_str, iso
from rules.enums import BookSource
from rules.models import Book

TOPIC = "books"
Level = tuple[Decimal, Decimal]


class SetBookCommand(Command):
    venue: Id
    symbol: Id
    bids: list[tuple[Qty, Qty]] = []
    asks: list[tuple[Qty, Qty]] = []

    @field_validator("bids", "asks")
    @classmethod
    def _bounded(cls, levels: list[Level]) -> list[Level]:
        if len(levels) > 500:
            raise ValueError("At most 500 levels.")
        return levels


_STREAMED: ContextVar[bool] = ContextVar("streamed_books", default=False)


@contextmanager
def streamed_books() -> Iterator[None]:
    """Books set inside come from a venue's book stream (oms.venues.bookfeed). Python callers
    only: no command field can claim it, and the book document does not show it."""
    token = _STREAMED.set(True)
    try:
        yield
    finally:
        _STREAMED.reset(token)


@dataclass(frozen=True)
class BookView:
    venue: str
    symbol: str
    bids: list[Level]  # best (highest) first
    asks: list[Level]  # best (lowest) first
    as_of: dt.datetime
    streamed: bool = False  # written by a venue's book stream (BookSource.STREAM)

    @property
    def best_bid(self) -> Decimal | None:
        return self.bids[0][0] if self.bids else None

    @property
    def best_ask(self) -> Decimal | None:
        return self.asks[0][0] if self.asks else None

    @property
    def mid(self) -> Decimal | None:
        if self.best_bid is None or self.best_ask is None:
            return None
        return (self.best_bid + self.best_ask) / 2

    def stale(self, now: dt.datetime) -> bool:
        return (now - self.as_of).total_seconds() > settings.OMS_BOOK_STALE_SECONDS

    def stream_stopped(self, now: dt.datetime) -> bool:
        """A streamed book gone stale: its stream stopped speaking, its prices are the past's."""
        return self.streamed and self.stale(now)

    def reference(self, side: str) -> Decimal | None:
        """The far touch: what a buy pays (the ask), what a sell gets (the bid). With the far side
        empty the book's mid is its one side (the contract's "mid when one side is empty")."""
        far = self.best_ask if side == "Buy" else self.best_bid
        if far is not None:
            return far
        return self.mid if self.mid is not None else (self.best_bid or self.best_ask)

    def far_side(self, side: str) -> list[Level]:
        return self.asks if side == "Buy" else self.bids

    def to_api(self, now: dt.datetime) -> dict[str, Any]:
        return {
            "venue": self.venue,
            "symbol": self.symbol,
            "bids": [[dec_str(p), dec_str(q)] for p, q in self.bids],
            "asks": [[dec_str(p), dec_str(q)] for p, q in self.asks],
            "bestBid": dec_str(self.best_bid),
            "bestAsk": dec_str(self.best_ask),
            "mid": dec_str(self.mid),
            "asOf": iso(self.as_of),
            "stale": self.stale(now),
        }


def _levels(raw: list[list[str]]) -> list[Level]:
    return [(Decimal(p), Decimal(q)) for p, q in raw]


def _view(row: Book) -> BookView:
    streamed = row.source == BookSource.STREAM
    return BookView(row.venue, row.symbol, _levels(row.bids), _levels(row.asks), row.as_of, streamed)


@command_handler(TOPIC, SetBookCommand)
def book_set(
    uow: UnitOfWork,
    *,
    venue: str,
    symbol: str,
    bids: list[Level] | None = None,
    asks: list[Level] | None = None,
) -> Outcome:
    bids = sorted(bids or [], key=lambda level: level[0], reverse=True)
    asks = sorted(asks or [], key=lambda level: level[0])
    if bids and asks and bids[0][0] >= asks[0][0]:
        raise ValidationFailed(
            "a crossed book",
            fields={"bids": [f"The best bid must be below the best ask ({dec_str(asks[0][0])})."]},
        )
    view = BookView(venue, symbol, bids, asks, uow.ctx.now)
    doc = view.to_api(uow.ctx.now)
    Book.objects.update_or_create(
        venue=venue,
        symbol=symbol,
        defaults={
            "bids": doc["bids"],
            "asks": doc["asks"],
            "as_of": uow.ctx.now,
            "updated_by": uow.ctx.actor,
            "source": BookSource.STREAM if _STREAMED.get() else BookSource.SET,
        },
    )
    return Outcome({"book": doc})


# --- reads ----------------------------------------------------------------------------------------


def book_at(venue: str, symbol: str) -> BookView | None:
    row = Book.objects.filter(venue=venue, symbol=symbol).first()
    return None if row is None else _view(row)


def book_for(venue: str | None, symbol: str) -> BookView | None:
    """The book an order is priced against: its venue's, or for a venue-less order the freshest
    book of its symbol."""
    if venue:
        return book_at(venue, symbol)
    row = Book.objects.filter(symbol=symbol).order_by("-as_of").first()
    return None if row is None else _view(row)


def mids(keys: set[tuple[str, str]]) -> dict[tuple[str, str], Decimal]:
    """The mid of each (venue, symbol) book that has both sides, in one query."""
    if not keys:
        return {}
    where = Q()
    for venue, symbol in keys:
        where |= Q(venue=venue, symbol=symbol)
    out = {}
    for row in Book.objects.filter(where):
        mid = _view(row).mid
        if mid is not None:
            out[(row.venue, row.symbol)] = mid
    return out


def book_document(venue: str, symbol: str, now: dt.datetime | None = None) -> dict[str, Any]:
    view = book_at(venue, symbol)
    if view is None:
        raise NotFound(f"no book for {symbol} at {venue}")
    return view.to_api(now or dt.datetime.now(dt.UTC))
