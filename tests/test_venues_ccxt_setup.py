"""The ccxt adapter's settings and factory, its instruments (`sync_instruments --venue ccxt:<id>`),
its registration, and its ccxt.pro streams."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import ccxt
import pytest
from django.core.management import CommandError, call_command

from oms.core.dispatch import dispatch
from oms.orders.models import Order
from oms.venues import adapter as registry
from oms.venues.adapter import TransientVenueError, VenueBook, VenueFill, VenueOrderReport, get_adapter
from oms.venues.ccxt import mapping
from oms.venues.ccxt.adapter import CcxtAdapter
from oms.venues.ccxt.exchange import (
    DEMO,
    LIVE,
    SANDBOX,
    ExchangeConfigError,
    ExchangeSettings,
    build_exchange,
)
from oms.venues.tasks import send_order
from rules.models import Instrument
from tests.ccxt_support import MARKETS, cases, market, num, stubbed_adapter
from tests.conftest import uid
from tests.test_api_commands import order_body

# --- settings and the exchange factory -----------------------------------------------------------


def test_settings_default_to_the_sandbox_with_the_rate_limiter_on():
    settings = ExchangeSettings.from_env(
        "binance", {"OMS_CCXT_BINANCE_API_KEY": "k", "OMS_CCXT_BINANCE_SECRET": "s"}
    )

    exchange = build_exchange(settings)

    assert settings.environment == SANDBOX and settings.account == "binance"
    assert exchange.enableRateLimit is True and exchange.isSandboxModeEnabled is True
    assert (exchange.apiKey, exchange.secret) == ("k", "s")


def test_settings_read_every_variable_of_the_exchange():
    env = {
        "OMS_CCXT_BYBIT_SANDBOX": "0",
        "OMS_CCXT_BYBIT_DEFAULT_TYPE": "swap",
        "OMS_CCXT_BYBIT_ACCOUNT": "desk-7",
        "OMS_CCXT_BYBIT_TIMEOUT_MS": "2500",
        "OMS_CCXT_BYBIT_PASSWORD": "pw",
        "OMS_CCXT_BINANCE_SANDBOX": "0",  # another exchange's: not ours
    }
    settings = ExchangeSettings.from_env("bybit", env)

    exchange = build_exchange(settings)

    assert (settings.environment, settings.account, settings.timeout_ms) == (LIVE, "desk-7", 2500)
    assert exchange.isSandboxModeEnabled is False and exchange.timeout == 2500
    assert exchange.options["defaultType"] == "swap" and exchange.password == "pw"


def test_demo_trading_points_binance_at_its_demo_venue():
    exchange = build_exchange(ExchangeSettings.from_env("binance", {"OMS_CCXT_BINANCE_SANDBOX": "demo"}))

    assert exchange.urls["api"]["fapiPrivate"] == exchange.urls["demo"]["fapiPrivate"]
    assert exchange.isSandboxModeEnabled is False


@pytest.mark.parametrize(
    ("exchange_id", "env"),
    [
        ("binance", {"OMS_CCXT_BINANCE_SANDBOX": "maybe"}),
        ("binance", {"OMS_CCXT_BINANCE_DEFAULT_TYPE": "options"}),
        ("binance", {"OMS_CCXT_BINANCE_TIMEOUT_MS": "-1"}),
    ],
    ids=["sandbox", "default-type", "timeout"],
)
def test_a_malformed_setting_fails_loudly(exchange_id, env):
    with pytest.raises(ExchangeConfigError, match="OMS_CCXT_BINANCE_"):
        ExchangeSettings.from_env(exchange_id, env)


def test_an_exchange_without_the_asked_for_environment_refuses_to_start_rather_than_go_live():
    with pytest.raises(ExchangeConfigError, match="no demo trading"):
        build_exchange(ExchangeSettings(exchange_id="bybit", environment=DEMO))


@pytest.mark.parametrize("name", ["ccxt:nosuchexchange", "ccxt:", "SIM", "binance"])
def test_an_adapter_name_that_is_not_a_ccxt_exchange_is_refused(name):
    with pytest.raises(ExchangeConfigError):
        CcxtAdapter(name, name)


def test_the_registry_builds_a_ccxt_adapter_for_any_ccxt_venue(monkeypatch):
    monkeypatch.setenv("OMS_CCXT_KRAKEN_SANDBOX", "0")
    registry.reset_adapters()
    try:
        adapter = get_adapter("ccxt:kraken", "ccxt:kraken")
        assert isinstance(adapter, CcxtAdapter) and adapter.exchange.id == "kraken"
        assert get_adapter("ccxt:kraken", "ccxt:kraken") is adapter  # one per process
    finally:
        registry.reset_adapters()


# --- markets -> instruments ----------------------------------------------------------------------


def test_markets_map_to_instruments_with_kind_steps_and_contract_size():
    by_symbol = {m["symbol"]: mapping.instrument("ccxt:binance", m) for m in MARKETS["binance"]}

    spot, perp, inverse, dated = (
        by_symbol["BTC/USDT"],
        by_symbol["BTC/USDT:USDT"],
        by_symbol["BTC/USD:BTC"],
        by_symbol["BCH/USD:BCH-241227"],
    )
    assert (spot.kind, spot.multiplier, spot.lot_size, spot.min_qty) == (
        "Spot",
        1,
        Decimal("0.00001"),
        Decimal("0.00001"),
    )
    assert (perp.kind, perp.tick_size, perp.base_currency, perp.quote_currency) == (
        "Perpetual",
        Decimal("0.1"),
        "BTC",
        "USDT",
    )
    assert (inverse.kind, inverse.multiplier) == ("Perpetual", 100)
    assert (dated.kind, dated.multiplier) == ("Future", 10)
    assert spot.to_command()["lotSize"] == "0.00001"  # plain decimals, never 1E-5


def test_decimal_places_precision_becomes_a_tick_and_a_market_without_steps_is_left_out():
    market = {**MARKETS["binance"][0], "precision": {"price": 2, "amount": 3}}
    assert mapping.instrument("v", market, precision_mode=mapping.DECIMAL_PLACES).tick_size == Decimal("0.01")

    with pytest.raises(mapping.MappingError):
        mapping.instrument("v", {**market, "precision": {"price": None, "amount": 1}})
    with pytest.raises(mapping.MappingError):
        mapping.instrument("v", {**market, "spot": False, "option": True})


@pytest.fixture
def fixture_fed_binance(monkeypatch):
    """The adapter `ccxt:binance`, for any venue, is over the stubbed exchange (markets: MARKETS);
    the one of the venue `ccxt:binance` is yielded."""
    built: dict[str, CcxtAdapter] = {}

    def factory(venue: str, name: str) -> CcxtAdapter:
        return built.setdefault(venue, stubbed_adapter("binance", venue=venue)[0])

    monkeypatch.setitem(registry._FACTORIES, "ccxt:binance", factory)
    registry.reset_adapters()
    yield factory("ccxt:binance", "ccxt:binance")
    registry.reset_adapters()


@pytest.mark.django_db
def test_sync_instruments_loads_a_ccxt_venues_markets_through_upsert_and_is_idempotent(
    fixture_fed_binance, capsys
):
    call_command("sync_instruments", "--venue", "ccxt:binance")

    rows = {i.symbol: i.doc for i in Instrument.objects.filter(venue="ccxt:binance")}
    assert set(rows) == {m["symbol"] for m in MARKETS["binance"]}
    assert rows["BTC/USD:BTC"]["kind"] == "Perpetual" and Decimal(rows["BTC/USD:BTC"]["multiplier"]) == 100
    assert Decimal(rows["BTC/USDT:USDT"]["tickSize"]) == Decimal("0.1")
    assert rows["SOL/USDT"]["kind"] == "Spot" and rows["SOL/USDT"]["baseCurrency"] == "SOL"
    assert f"{len(rows)} created" in capsys.readouterr().out

    call_command("sync_instruments", "--venue", "ccxt:binance")

    assert f"{len(rows)} unchanged" in capsys.readouterr().out
    assert all(i.version == 1 for i in Instrument.objects.filter(venue="ccxt:binance"))


@pytest.mark.django_db
def test_sync_instruments_finds_the_adapter_of_a_registered_venue_by_another_name(fixture_fed_binance):
    dispatch(
        "venues",
        {"commandType": "UpsertVenueCommand", "venue": "BINANCE", "adapter": "ccxt:binance", "mode": "Paper"},
        actor="system:test",
    )

    call_command("sync_instruments", "--venue", "BINANCE")

    symbols = set(Instrument.objects.filter(venue="BINANCE").values_list("symbol", flat=True))
    assert symbols == {m["symbol"] for m in MARKETS["binance"]}


@pytest.mark.django_db
def test_synced_ccxt_instruments_drive_the_tick_check_of_orders_at_that_venue(fixture_fed_binance, desk):
    call_command("sync_instruments", "--venue", "ccxt:binance")
    body = order_body(venue="ccxt:binance", symbol="BTC/USDT:USDT", orderQty="0.001", price="60000.05")

    response = desk.post("/api/commands/orders", body, format="json")

    assert response.status_code == 422
    assert response.json()["error"]["rule"] == "tick_size"


@pytest.mark.django_db
def test_sync_instruments_of_an_unreachable_venue_is_a_command_error_and_writes_nothing(fixture_fed_binance):
    def down(params=None):
        raise ccxt.ExchangeNotAvailable("binance GET exchangeInfo 503")

    fixture_fed_binance.exchange.fetch_markets = down

    with pytest.raises(CommandError, match="TransientVenueError"):
        call_command("sync_instruments", "--venue", "ccxt:binance")
    assert not Instrument.objects.filter(venue="ccxt:binance").exists()


@pytest.mark.django_db
def test_sync_instruments_of_an_unknown_exchange_names_the_known_sources():
    with pytest.raises(CommandError, match="ccxt:<id>"):
        call_command("sync_instruments", "--venue", "ccxt:nosuchexchange")


# --- streams (ccxt.pro) --------------------------------------------------------------------------


class FakePro:
    """ccxt.pro's exchange as the stream sees it: each `watch_*` resolves with the next unified
    batch the venue pushes (the recorded cases' parsed structures), or waits."""

    def __init__(self, pushes: dict[str, list[Any]]) -> None:
        self.pushes = pushes
        self.closed = False

    async def _next(self, key: str) -> Any:
        while not self.pushes.get(key):
            await asyncio.sleep(0.01)
        item = self.pushes[key].pop(0)
        if isinstance(item, BaseException):
            raise item
        return item

    async def watch_orders(self) -> Any:
        return await self._next("orders")

    async def watch_my_trades(self) -> Any:
        return await self._next("trades")

    async def watch_order_book(self, symbol: str) -> Any:
        return await self._next(f"book:{symbol}")

    async def close(self) -> None:
        self.closed = True


def _streaming(pushes: dict[str, list[Any]]) -> tuple[CcxtAdapter, FakePro]:
    adapter, _ = stubbed_adapter("bybit")
    pro = FakePro(pushes)
    streaming = CcxtAdapter(
        adapter.venue,
        adapter.adapter_name,
        exchange=adapter.exchange,
        settings=adapter.settings,
        pro_factory=lambda: pro,
    )
    return streaming, pro


def test_watch_executions_answers_order_updates_and_fills_as_typed_records():
    trades = cases("bybit", "fetchMyTrades")[1]["parsedResponse"]
    order = cases("binance", "fetchOpenOrders")[0]["parsedResponse"]
    adapter, pro = _streaming({"orders": [order], "trades": [trades]})
    try:
        got: list[Any] = []
        for _ in range(20):
            got += adapter.watch_executions(timeout=0.5)
            if len(got) == len(order) + len(trades):
                break
        reports = [m for m in got if isinstance(m, VenueOrderReport)]
        fills = [m for m in got if isinstance(m, VenueFill)]
        assert [r.cl_ord_id for r in reports] == [o["clientOrderId"] for o in order]
        assert [(f.exec_id, f.last_qty) for f in fills] == [(t["id"], num(t["amount"])) for t in trades]
        assert adapter.watch_executions(timeout=0.05) == []  # nothing more pushed: an empty batch
    finally:
        adapter.close()
    assert pro.closed


def test_watch_book_answers_each_symbols_book_and_a_stream_error_is_transient():
    book = cases("bybit", "fetchOrderBook")[0]["parsedResponse"]
    adapter, _ = _streaming({f"book:{book['symbol']}": [book, ccxt.NetworkError("socket closed")]})
    try:
        (first,) = adapter.watch_book([book["symbol"]], timeout=2)
        assert isinstance(first, VenueBook) and first.bids[0] == (
            num(book["bids"][0][0]),
            num(book["bids"][0][1]),
        )
        with pytest.raises(TransientVenueError):
            adapter.watch_book([book["symbol"]], timeout=2)
    finally:
        adapter.close()


@pytest.mark.django_db
def test_the_book_of_a_ccxt_symbol_is_queried_with_its_slash_in_the_path(desk, viewer):
    body = {"commandType": "SetBookCommand", "venue": "ccxt:binance", "symbol": "BTC/USDT:USDT"}
    set_book = desk.post(
        "/api/commands/books", {**body, "bids": [["60000", "1"]], "asks": [["60000.1", "2"]]}, format="json"
    )
    assert set_book.status_code in (200, 201), set_book.json()

    got = viewer.get("/api/queries/books/ccxt:binance/BTC/USDT:USDT")

    assert got.status_code == 200
    assert (got.json()["bestBid"], got.json()["bestAsk"]) == ("60000", "60000.1")
    assert viewer.get("/api/queries/books/ccxt:binance/BTC/USDT").status_code == 404


@pytest.mark.django_db
def test_sync_instruments_writes_fine_ticks_in_plain_notation_and_skips_markets_finer_than_the_oms_keeps(
    fixture_fed_binance,
):
    fine = market("binance", "PEPE/USDT", "PEPEUSDT", tick=1e-8, lot=1)
    finer = market("binance", "DUST/USDT", "DUSTUSDT", tick=1e-12, lot=1)
    fixture_fed_binance.exchange.fetch_markets = lambda params=None: [*MARKETS["binance"], fine, finer]

    call_command("sync_instruments", "--venue", "ccxt:binance")

    pepe = Instrument.objects.get(venue="ccxt:binance", symbol="PEPE/USDT")
    assert pepe.doc["tickSize"] == "0.00000001"
    assert not Instrument.objects.filter(symbol="DUST/USDT").exists()


# --- end to end: an Auto order at a ccxt venue is sent by the OMS's send task ---------------------


@pytest.mark.django_db(transaction=True)
def test_an_auto_order_at_a_ccxt_venue_is_placed_with_its_clordid_and_acknowledged_new(
    fixture_fed_binance, settings
):
    call_command("sync_instruments", "--venue", "ccxt:binance")
    created = cases("binance", "createOrder")[0]["httpResponse"]  # SOL/USDT limit buy, NEW
    transport = fixture_fed_binance.exchange.fetch
    # the venue echoes the clientOrderId it was sent (the recorded answer, with ours in it)
    transport.on(
        "POST", "/api/v3/order", lambda sent: {**created, "clientOrderId": sent.params["newClientOrderId"]}
    )
    body = {
        "commandType": "CreateOrderCommand", "clOrdID": uid("CX"), "symbol": "SOL/USDT", "side": "Buy",
        "orderQty": "0.05", "ordType": "Limit", "price": "241", "timeInForce": "GTC", "account": "ACC-X",
        "venue": "ccxt:binance", "handling": "Auto",
    }  # fmt: skip

    client = dispatch("orders", body, actor="trader").body["order"]
    (child,) = Order.objects.filter(parent_id=client["orderId"]).values_list("doc", flat=True)
    if not settings.CELERY_TASK_ALWAYS_EAGER:  # with a broker, run the send here rather than on a worker
        send_order.apply(args=[child["orderId"]])

    (posted,) = transport.requests("POST", "/api/v3/order")
    assert posted.params["newClientOrderId"] == child["clOrdID"]
    assert (posted.params["symbol"], posted.params["quantity"], posted.params["price"]) == (
        "SOLUSDT",
        "0.05",
        "241",
    )
    child = Order.objects.get(pk=child["orderId"]).doc
    assert child["status"] == "New" and child["venue"] == "ccxt:binance"
