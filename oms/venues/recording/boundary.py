"""One adapter shape for both sides of a session tape: every call of the `VenueAdapter` interface
goes through `_call(method, arguments, call)`. The recorder's adapter makes the call on the real
adapter and writes down what came back; the replayer's answers what was written down and never
calls anything. Listing the interface once here keeps the two from drifting apart."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

from oms.venues.adapter import (
    CancelRequest,
    PlaceRequest,
    ReplaceRequest,
    StreamMessage,
    VenueAdapter,
    VenueBalance,
    VenueBook,
    VenueFill,
    VenueInstrument,
    VenueOrderReport,
    VenuePosition,
)


class BoundaryAdapter(VenueAdapter):
    """An adapter whose every call is `_call(method, arguments, call)`; `inner` is the real
    adapter when there is one (the recorder), None when the tape stands in for the venue."""

    def __init__(
        self, venue: str, adapter_name: str, has: dict[str, bool], inner: VenueAdapter | None = None
    ) -> None:
        super().__init__(venue, adapter_name)
        self.has = dict(has)  # type: ignore[misc]  # per instance: the adapter it records or replays
        self.inner = inner

    def _call(self, method: str, arguments: dict[str, Any], call: Callable[[], Any]) -> Any:
        raise NotImplementedError

    def _real(self) -> VenueAdapter:
        assert self.inner is not None
        return self.inner

    def place_order(self, request: PlaceRequest) -> VenueOrderReport:
        result: VenueOrderReport = self._call(
            "place_order", {"request": request}, lambda: self._real().place_order(request)
        )
        return result

    def cancel_order(self, request: CancelRequest) -> VenueOrderReport:
        result: VenueOrderReport = self._call(
            "cancel_order", {"request": request}, lambda: self._real().cancel_order(request)
        )
        return result

    def replace_order(self, request: ReplaceRequest) -> VenueOrderReport:
        result: VenueOrderReport = self._call(
            "replace_order", {"request": request}, lambda: self._real().replace_order(request)
        )
        return result

    def fetch_order(self, *, cl_ord_id: str, symbol: str) -> VenueOrderReport | None:
        result: VenueOrderReport | None = self._call(
            "fetch_order",
            {"cl_ord_id": cl_ord_id, "symbol": symbol},
            lambda: self._real().fetch_order(cl_ord_id=cl_ord_id, symbol=symbol),
        )
        return result

    def fetch_open_orders(self, *, symbol: str | None = None) -> list[VenueOrderReport]:
        result: list[VenueOrderReport] = self._call(
            "fetch_open_orders", {"symbol": symbol}, lambda: self._real().fetch_open_orders(symbol=symbol)
        )
        return result

    def fetch_fills(self, *, since: dt.datetime | None = None, symbol: str | None = None) -> list[VenueFill]:
        result: list[VenueFill] = self._call(
            "fetch_fills",
            {"since": since, "symbol": symbol},
            lambda: self._real().fetch_fills(since=since, symbol=symbol),
        )
        return result

    def fetch_positions(self, *, account: str | None = None) -> list[VenuePosition]:
        result: list[VenuePosition] = self._call(
            "fetch_positions", {"account": account}, lambda: self._real().fetch_positions(account=account)
        )
        return result

    def fetch_balances(self) -> list[VenueBalance]:
        result: list[VenueBalance] = self._call("fetch_balances", {}, lambda: self._real().fetch_balances())
        return result

    def fetch_instruments(self) -> list[VenueInstrument]:
        result: list[VenueInstrument] = self._call(
            "fetch_instruments", {}, lambda: self._real().fetch_instruments()
        )
        return result

    def watch_executions(self, *, timeout: float = 1.0) -> list[StreamMessage]:
        result: list[StreamMessage] = self._call(
            "watch_executions", {"timeout": timeout}, lambda: self._real().watch_executions(timeout=timeout)
        )
        return result

    def watch_book(self, symbols: Iterable[str], *, timeout: float = 1.0) -> list[VenueBook]:
        wanted = list(symbols)
        result: list[VenueBook] = self._call(
            "watch_book",
            {"symbols": wanted, "timeout": timeout},
            lambda: self._real().watch_book(wanted, timeout=timeout),
        )
        return result

    def close(self) -> None:
        if self.inner is not None:
            self.inner.close()
