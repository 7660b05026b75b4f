"""A real ccxt exchange whose HTTP layer is a stub: the recorded cases of tests/data/ccxt answer.

Only the remote venue is fake. The exchange object is ccxt's own (`ccxt.binance`, `ccxt.bybit`,
built by the adapter's factory, sandbox on), so ccxt signs and builds every request and parses
every answer exactly as it would live; `Transport` replaces `exchange.fetch`, ccxt's one HTTP
entry point, and records what was sent.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlparse

from oms.venues.ccxt.adapter import CcxtAdapter
from oms.venues.ccxt.exchange import DEMO, LIVE, SANDBOX, ExchangeSettings, build_exchange

DATA = Path(__file__).parent / "data" / "ccxt"


def cases(exchange_id: str, method: str) -> list[dict[str, Any]]:
    data = json.loads((DATA / f"{exchange_id}.json").read_text())
    return [c for c in data["methods"].get(method, []) if not c.get("disabled")]


def options(exchange_id: str) -> dict[str, Any]:
    return json.loads((DATA / f"{exchange_id}.json").read_text()).get("options") or {}


def case_id(case: dict[str, Any]) -> str:
    return str(case["description"])


def num(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


# --- minimal markets (ccxt's offline snapshots are not copied: these carry what the cases need) --


SPOT_ORDER_TYPES = ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"]
FUTURES_ORDER_TYPES = [
    "LIMIT",
    "MARKET",
    "STOP",
    "STOP_MARKET",
    "TAKE_PROFIT",
    "TAKE_PROFIT_MARKET",
    "TRAILING_STOP_MARKET",
]


def market(
    exchange_id: str,
    symbol: str,
    market_id: str,
    *,
    kind: str = "spot",
    linear: bool = True,
    contract_size: float | None = None,
    tick: float = 0.01,
    lot: float = 0.001,
    min_qty: float | None = None,
) -> dict[str, Any]:
    base, rest = symbol.split("/")
    quote, _, settle_part = rest.partition(":")
    settle = settle_part.split("-")[0] or None
    contract = kind in ("swap", "future")
    return {
        "id": market_id,
        "symbol": symbol,
        "base": base,
        "quote": quote,
        "settle": settle,
        "baseId": base,
        "quoteId": quote,
        "settleId": settle,
        "type": kind,
        "subType": ("linear" if linear else "inverse") if contract else None,
        "spot": kind == "spot",
        "margin": False,
        "swap": kind == "swap",
        "future": kind == "future",
        "option": False,
        "active": True,
        "contract": contract,
        "linear": linear if contract else None,
        "inverse": (not linear) if contract else None,
        "contractSize": contract_size if contract else None,
        "expiry": None,
        "expiryDatetime": None,
        "strike": None,
        "optionType": None,
        "precision": {"amount": lot, "price": tick, "base": 1e-8, "quote": 1e-8},
        "limits": {
            "amount": {"min": min_qty if min_qty is not None else lot, "max": None},
            "price": {"min": None, "max": None},
            "cost": {"min": None, "max": None},
            "leverage": {"min": None, "max": None},
        },
        # binance checks the order type against the market's own list (its exchangeInfo) before sending
        "info": {"orderTypes": FUTURES_ORDER_TYPES if contract else SPOT_ORDER_TYPES},
    }


MARKETS: dict[str, list[dict[str, Any]]] = {
    "binance": [
        market("binance", "SOL/USDT", "SOLUSDT", tick=0.01, lot=0.001),
        market("binance", "LTC/USDT", "LTCUSDT", tick=0.01, lot=0.001),
        market("binance", "BTC/USDT", "BTCUSDT", tick=0.01, lot=0.00001),
        market("binance", "LTC/USDT:USDT", "LTCUSDT", kind="swap", contract_size=1, tick=0.01, lot=0.001),
        market("binance", "BTC/USDT:USDT", "BTCUSDT", kind="swap", contract_size=1, tick=0.1, lot=0.001),
        market("binance", "ETH/USDT:USDT", "ETHUSDT", kind="swap", contract_size=1, tick=0.01, lot=0.001),
        market(
            "binance",
            "BTC/USD:BTC",
            "BTCUSD_PERP",
            kind="swap",
            linear=False,
            contract_size=100,
            tick=0.1,
            lot=1,
        ),
        market(
            "binance",
            "BCH/USD:BCH-241227",
            "BCHUSD_241227",
            kind="future",
            linear=False,
            contract_size=10,
            tick=0.01,
            lot=1,
        ),
    ],
    "bybit": [
        market("bybit", "LTC/USDT", "LTCUSDT", tick=0.01, lot=0.00001),
        market("bybit", "BTC/USDT", "BTCUSDT", tick=0.01, lot=0.000001),
        market("bybit", "ETH/USDT", "ETHUSDT", tick=0.01, lot=0.00001),
        market("bybit", "XRP/USDT", "XRPUSDT", tick=0.0001, lot=0.01),
        market("bybit", "LTC/USDT:USDT", "LTCUSDT", kind="swap", contract_size=1, tick=0.01, lot=0.1),
        market("bybit", "BTC/USDT:USDT", "BTCUSDT", kind="swap", contract_size=1, tick=0.1, lot=0.001),
    ],
}


# --- the stubbed transport -----------------------------------------------------------------------


@dataclass
class ErrorBody:
    """An error answer of the venue: ccxt's own `handle_errors` turns it into its exception."""

    status: int
    body: dict[str, Any]


@dataclass
class Sent:
    method: str
    url: str
    body: Any

    @property
    def path(self) -> str:
        return urlparse(self.url).path

    @property
    def params(self) -> dict[str, str]:
        query = dict(parse_qsl(urlparse(self.url).query))
        if isinstance(self.body, str) and self.body:
            try:
                query.update(json.loads(self.body))
            except ValueError:
                query.update(dict(parse_qsl(self.body)))
        return query


Answer = Any  # a JSON body, an ErrorBody, an exception, or a callable(Sent) -> one of those


class Transport:
    def __init__(self, exchange: Any) -> None:
        self.exchange = exchange
        self.routes: list[tuple[str, str, list[Answer]]] = []
        self.sent: list[Sent] = []

    def on(self, method: str, path_fragment: str, *answers: Answer) -> Transport:
        """Answer requests `method` (`*`: any) whose path contains `path_fragment`, in turn (the
        last answer repeats); the first matching route wins."""
        self.routes.append((method, path_fragment, list(answers)))
        return self

    def __call__(self, url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        sent = Sent(method, url, body)
        self.sent.append(sent)
        for route_method, fragment, answers in self.routes:
            if route_method in (method, "*") and fragment in sent.path:
                answer = answers.pop(0) if len(answers) > 1 else answers[0]
                break
        else:
            raise AssertionError(f"unexpected request {method} {url}")
        if callable(answer) and not isinstance(answer, type):
            answer = answer(sent)
        if isinstance(answer, BaseException):
            raise answer
        if isinstance(answer, ErrorBody):
            text = json.dumps(answer.body)
            self.exchange.handle_errors(
                answer.status, "error", url, method, {}, text, answer.body, headers, body
            )
            self.exchange.handle_http_status_code(answer.status, "error", url, method, text)
            raise AssertionError(f"ccxt raised nothing for {answer}")
        return copy.deepcopy(answer)

    def requests(self, method: str, path_fragment: str = "") -> list[Sent]:
        return [s for s in self.sent if s.method == method and path_fragment in s.path]


def stubbed_adapter(
    exchange_id: str,
    *,
    environment: str = SANDBOX,
    account: str = "desk-1",
    venue: str | None = None,
    hub: SocketHub | None = None,
    **more: Any,
) -> tuple[CcxtAdapter, Transport]:
    """The adapter of `ccxt:<exchange_id>` over a real ccxt exchange (testnet by default; binance's
    futures need `demo`, its portfolio-margin API has neither: `live`) with a stub transport;
    with `hub`, its ccxt.pro streams over stub websockets; `more`: further ExchangeSettings."""
    settings = ExchangeSettings(
        exchange_id=exchange_id,
        api_key="test-key",
        secret="test-secret",
        account=account,
        environment=environment,
        **more,
    )
    exchange = build_exchange(settings)
    exchange.options.update(copy.deepcopy(options(exchange_id)))
    if exchange_id == "bybit":  # what bybit's account query (/v5/user/query-api) would tell ccxt once
        exchange.options.update({"enableUnifiedAccount": True, "enableUnifiedMargin": False})
    exchange.set_markets(copy.deepcopy(MARKETS[exchange_id]))
    transport = Transport(exchange)
    exchange.fetch = transport
    # markets and currencies are the venue's too: loading them asks the stub, never the network
    exchange.fetch_markets = lambda params=None: copy.deepcopy(MARKETS[exchange_id])
    exchange.fetch_currencies = lambda params=None: {}
    name = f"ccxt:{exchange_id}"
    pro = stubbed_pro(exchange_id, settings, hub) if hub is not None else None
    adapter = CcxtAdapter(venue or name, name, exchange=exchange, settings=settings, pro_factory=pro)
    return adapter, transport


def answer_once(case: dict[str, Any]) -> Callable[[Sent], Any]:
    return lambda sent: case["httpResponse"]


def environment_for(exchange_id: str, case: dict[str, Any]) -> str:
    """The environment a recorded case can be replayed in: binance's futures answer on its demo
    trading only, its portfolio-margin (papi) API on the real venue only."""
    if exchange_id != "binance":
        return SANDBOX
    text = json.dumps(case["input"])
    return LIVE if "papi" in text or "portfolioMargin" in text else DEMO


# --- the stubbed websocket (ccxt.pro) ------------------------------------------------------------


class StubSocket:
    """aiohttp's websocket as ccxt.pro's `Client` uses it (send_str, receive, close), fed by the
    test: the exchange object, its subscriptions, its parsers and its order books are ccxt.pro's
    own; only the venue's end of the socket is fake. It answers bybit's `auth` and `subscribe`
    requests as the venue does."""

    def __init__(self, url: str) -> None:
        import asyncio

        self.url = url
        self.closed = False
        self._conn = None  # ccxt reads aiohttp's buffer through it: none here
        self.inbox: asyncio.Queue[Any] = asyncio.Queue()
        self.sent: list[dict[str, Any]] = []

    def push(self, message: dict[str, Any]) -> None:
        from aiohttp import WSMessage, WSMsgType

        self.inbox.put_nowait(WSMessage(WSMsgType.TEXT, json.dumps(message), None))

    async def send_str(self, text: str) -> None:
        message = json.loads(text)
        self.sent.append(message)
        op = message.get("op")
        if op in ("auth", "subscribe"):
            self.push(
                {"success": True, "ret_msg": "", "conn_id": "stub", "req_id": message.get("req_id"), "op": op}
            )
        elif op == "ping":
            self.push({"success": True, "ret_msg": "pong", "conn_id": "stub", "op": "ping"})

    async def receive(self) -> Any:
        return await self.inbox.get()

    async def close(self, *args: Any, **kwargs: Any) -> None:
        from aiohttp import WSMessage, WSMsgType

        self.closed = True
        self.inbox.put_nowait(WSMessage(WSMsgType.CLOSED, None, None))  # ends a pending receive

    async def pong(self, *args: Any) -> None:
        return None

    def drop(self) -> None:
        """The venue closes the connection (1006, as a dropped network does)."""
        from aiohttp import WSMessage, WSMsgType

        self.inbox.put_nowait(WSMessage(WSMsgType.CLOSE, 1006, None))


class SocketHub:
    """Every websocket the ccxt.pro exchange opens, by url; `down` refuses new connections (the
    venue unreachable)."""

    def __init__(self) -> None:
        self.sockets: list[StubSocket] = []
        self.down = False

    async def connect(self, url: str) -> StubSocket:
        if self.down:
            raise ConnectionRefusedError(f"stub: {url} unreachable")
        socket = StubSocket(url)
        self.sockets.append(socket)
        return socket

    def socket(self, fragment: str) -> StubSocket | None:
        live = [s for s in self.sockets if fragment in s.url and not s.closed]
        return live[-1] if live else None


def stubbed_pro(exchange_id: str, settings: ExchangeSettings, hub: SocketHub) -> Callable[[], Any]:
    """ccxt.pro's exchange (built by the adapter's own factory) whose websockets are `hub`'s."""

    def factory() -> Any:
        exchange = build_exchange(settings, pro=True)
        exchange.options.update(copy.deepcopy(options(exchange_id)))
        if exchange_id == "bybit":
            exchange.options.update({"enableUnifiedAccount": True, "enableUnifiedMargin": False})
        exchange.set_markets(copy.deepcopy(MARKETS[exchange_id]))

        async def markets(params: Any = None) -> Any:
            return copy.deepcopy(MARKETS[exchange_id])

        async def no_currencies(params: Any = None) -> Any:
            return {}

        async def no_rest(url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
            raise AssertionError(f"unexpected ccxt.pro REST request {method} {url}")

        exchange.fetch_markets, exchange.fetch_currencies, exchange.fetch = markets, no_currencies, no_rest
        original = exchange.client

        def client(url: str) -> Any:
            ws = original(url)
            ws.create_connection = lambda session: hub.connect(url)
            return ws

        exchange.client = client
        return exchange

    return factory
