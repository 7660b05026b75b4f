"""ccxt.pro's async `watch_*` behind the adapter's blocking `watch_executions` / `watch_book`.

ccxt.pro is asyncio; the OMS's stream consumer is a plain loop calling `watch_*(timeout=)`. One
event-loop thread per adapter runs the ccxt.pro exchange; each watch keeps one pending task per
subscription (orders, my trades, one book per symbol) across calls, so nothing the venue sends
between two calls is lost: a call answers what completed within `timeout` (an empty list when
nothing did) and re-arms the subscriptions that answered.

ccxt.pro gives orders and trades no venue sequence number: `seq` stays None and the consumer's
gap detection relies on reconciliation (fetch_open_orders / fetch_fills) after a reconnect, as
the primer asks. A stream error is a `TransientVenueError` (reconnect, then reconcile).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from oms.venues.adapter import StreamMessage, VenueBook
from oms.venues.ccxt import mapping
from oms.venues.ccxt.errors import Operation, translate

if TYPE_CHECKING:
    from oms.venues.ccxt.adapter import CcxtAdapter

Watch = Callable[[], Awaitable[Any]]


class CcxtStreams:
    def __init__(self, adapter: CcxtAdapter, factory: Callable[[], Any]) -> None:
        self._adapter = adapter
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"ccxt-stream-{adapter.venue}", daemon=True
        )
        self._thread.start()
        self._tasks: dict[str, asyncio.Future[Any]] = {}
        self._exchange = self._run(self._build(factory), None)

    @staticmethod
    async def _build(factory: Callable[[], Any]) -> Any:
        return factory()  # inside the loop: ccxt.pro binds its session to the running loop

    def _run(self, coro: Awaitable[Any], timeout: float | None) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)  # type: ignore[arg-type]  # ccxt's coroutines are typed as Awaitable, not Coroutine

    async def _next(self, watches: dict[str, Watch], timeout: float) -> list[tuple[str, Any]]:
        for key, start in watches.items():
            if key not in self._tasks:
                self._tasks[key] = asyncio.ensure_future(start())
        pending = [self._tasks[key] for key in watches]
        done, _ = await asyncio.wait(pending, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        out = []
        for key in watches:
            task = self._tasks[key]
            if task in done:
                del self._tasks[key]
                out.append((key, task.result()))  # a failed watch raises here
        return out

    def _batch(self, watches: dict[str, Watch], timeout: float) -> list[tuple[str, Any]]:
        try:
            result: list[tuple[str, Any]] = self._run(self._next(watches, timeout), timeout + 5)
            return result
        except Exception as exc:
            raise translate(exc, self._adapter.venue, Operation.READ) from exc

    def executions(self, timeout: float) -> list[StreamMessage]:
        exchange = self._exchange
        watches: dict[str, Watch] = {"orders": exchange.watch_orders, "trades": exchange.watch_my_trades}
        messages: list[StreamMessage] = []
        for key, rows in self._batch(watches, timeout):
            for row in rows:
                if key == "orders":
                    messages.append(self._adapter._report(row))
                else:
                    cl_ord_id = self._adapter._client_id_of(row)
                    messages.append(
                        mapping.fill(
                            self._adapter.venue, row, cl_ord_id=cl_ord_id, account=self._adapter.account
                        )
                    )
        # an order update and the fill that caused it may come in one batch: the venue's time orders them
        return sorted(messages, key=lambda m: m.ts_event)

    def books(self, symbols: list[str], timeout: float) -> list[VenueBook]:
        exchange = self._exchange

        def watch(symbol: str) -> Watch:
            return lambda: exchange.watch_order_book(symbol)

        watches = {f"book:{symbol}": watch(symbol) for symbol in symbols}
        return [mapping.book(self._adapter.venue, key[5:], ob) for key, ob in self._batch(watches, timeout)]

    def close(self) -> None:
        async def shutdown() -> None:
            for task in self._tasks.values():
                task.cancel()
            self._tasks.clear()
            closing = getattr(self._exchange, "close", None)
            if closing is not None:
                await closing()

        try:
            self._run(shutdown(), 10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
