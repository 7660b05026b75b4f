"""One exchange's settings (from the environment) and the factory of its ccxt object.

For the exchange `<id>` (upper-cased, e.g. BINANCE for `ccxt:binance`):

    OMS_CCXT_<ID>_API_KEY, OMS_CCXT_<ID>_SECRET   the API key (none: public data only)
    OMS_CCXT_<ID>_PASSWORD                        the passphrase some venues add (OKX, KuCoin)
    OMS_CCXT_<ID>_SANDBOX=1                       1: the venue's testnet (default); demo: its demo
                                                  trading (binance's futures testnet is retired
                                                  for it); 0: the real venue, real money
    OMS_CCXT_<ID>_DEFAULT_TYPE=swap               ccxt's defaultType: spot, swap, future, margin
    OMS_CCXT_<ID>_ACCOUNT                         the OMS account positions are reported under
                                                  (default: the exchange id)
    OMS_CCXT_<ID>_TIMEOUT_MS=10000                one request's timeout (a timeout after a create is
                                                  an unknown outcome: keep it well above the venue's
                                                  own latency)
    OMS_CCXT_<ID>_BOOKS=BTC/USDT:USDT,ETH/USDT:USDT  the books the stream consumer keeps (unified
                                                  symbols; the symbols of working orders are added)
    OMS_CCXT_<ID>_BOOK_STREAM=1                   1: ccxt.pro's watchOrderBook where the exchange
                                                  has it; 0: always poll fetch_order_book
    OMS_CCXT_<ID>_BOOK_POLL_MS=1000               the poll interval per symbol (ccxt's rate limiter
                                                  still spaces the requests)
    OMS_CCXT_<ID>_BOOK_DEPTH=20                   levels a side asked for and kept

ccxt's own rate limiter is always on (`enableRateLimit`): calls queue rather than hit the venue's
limits. The sandbox is the default; an exchange without one (or without demo trading, asked for)
refuses to start rather than falling back to the real venue.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import ccxt

ADAPTER_FAMILY = "ccxt"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_DEFAULT_TYPES = {"spot", "swap", "future", "margin"}
SANDBOX, DEMO, LIVE = "sandbox", "demo", "live"  # the venue environments ccxt can point at


class ExchangeConfigError(ValueError):
    """A malformed setting, an unknown exchange id, or a sandbox the exchange does not have."""


def exchange_id_of(adapter_name: str) -> str:
    """`ccxt:binance` -> `binance` (the ccxt class name); anything else is a configuration error."""
    family, _, exchange_id = adapter_name.partition(":")
    if family != ADAPTER_FAMILY or not exchange_id:
        raise ExchangeConfigError(f"{adapter_name!r} is not a ccxt adapter name (ccxt:<exchangeId>)")
    if exchange_id not in ccxt.exchanges:
        raise ExchangeConfigError(f"ccxt has no exchange {exchange_id!r}")
    return exchange_id


@dataclass(frozen=True)
class ExchangeSettings:
    exchange_id: str
    api_key: str | None = None
    secret: str | None = None
    password: str | None = None
    environment: str = SANDBOX
    default_type: str | None = None
    account: str = ""
    timeout_ms: int = 10_000
    books: tuple[str, ...] = ()
    book_stream: bool = True
    book_poll_ms: int = 1000
    book_depth: int = 20

    @classmethod
    def from_env(cls, exchange_id: str, env: Mapping[str, str]) -> ExchangeSettings:
        prefix = "OMS_CCXT_" + re.sub(r"[^A-Z0-9]", "_", exchange_id.upper()) + "_"

        def get(name: str) -> str | None:
            raw = env.get(prefix + name)
            return raw.strip() if raw is not None and raw.strip() else None

        sandbox_raw = (get("SANDBOX") or "1").lower()
        if sandbox_raw not in _TRUE | _FALSE | {DEMO}:
            raise ExchangeConfigError(f"{prefix}SANDBOX={sandbox_raw!r}: use 1 (testnet), demo or 0 (live)")
        default_type = get("DEFAULT_TYPE")
        if default_type is not None and default_type not in _DEFAULT_TYPES:
            raise ExchangeConfigError(
                f"{prefix}DEFAULT_TYPE={default_type!r}: one of {sorted(_DEFAULT_TYPES)}"
            )

        def positive(name: str, default: str) -> int:
            raw = get(name) or default
            if not raw.isdigit() or int(raw) <= 0:
                raise ExchangeConfigError(f"{prefix}{name}={raw!r} is not a positive integer")
            return int(raw)

        book_stream = (get("BOOK_STREAM") or "1").lower()
        if book_stream not in _TRUE | _FALSE:
            raise ExchangeConfigError(f"{prefix}BOOK_STREAM={book_stream!r}: use 1 (stream) or 0 (poll)")
        return cls(
            exchange_id=exchange_id,
            api_key=get("API_KEY"),
            secret=get("SECRET"),
            password=get("PASSWORD"),
            environment=SANDBOX if sandbox_raw in _TRUE else DEMO if sandbox_raw == DEMO else LIVE,
            default_type=default_type,
            account=get("ACCOUNT") or exchange_id,
            timeout_ms=positive("TIMEOUT_MS", "10000"),
            books=tuple(dict.fromkeys(b.strip() for b in (get("BOOKS") or "").split(",") if b.strip())),
            book_stream=book_stream in _TRUE,
            book_poll_ms=positive("BOOK_POLL_MS", "1000"),
            book_depth=min(positive("BOOK_DEPTH", "20"), 500),
        )

    def config(self) -> dict[str, Any]:
        """The constructor argument of the ccxt exchange class."""
        config: dict[str, Any] = {"enableRateLimit": True, "timeout": self.timeout_ms}
        for key, value in (("apiKey", self.api_key), ("secret", self.secret), ("password", self.password)):
            if value is not None:
                config[key] = value
        if self.default_type is not None:
            config["options"] = {"defaultType": self.default_type}
        return config


def build_exchange(settings: ExchangeSettings, *, pro: bool = False) -> Any:
    """The ccxt exchange object (ccxt.pro's async one when `pro`), on the testnet unless told not."""
    module: Any = ccxt.pro if pro else ccxt
    exchange_class = getattr(module, settings.exchange_id, None)
    if exchange_class is None:
        raise ExchangeConfigError(f"ccxt{'.pro' if pro else ''} has no exchange {settings.exchange_id!r}")
    exchange = exchange_class(settings.config())
    name = f"OMS_CCXT_{settings.exchange_id.upper()}_SANDBOX"
    if settings.environment == SANDBOX:
        try:
            exchange.set_sandbox_mode(True)
        except ccxt.NotSupported as exc:
            raise ExchangeConfigError(
                f"{settings.exchange_id} has no sandbox: set {name}=0 to trade it for real (a Live venue must then be armed)"
            ) from exc
    elif settings.environment == DEMO:
        if not isinstance(exchange.urls.get("demo"), dict):
            raise ExchangeConfigError(
                f"{settings.exchange_id} has no demo trading: set {name}=1 (testnet) or 0 (live)"
            )
        exchange.enable_demo_trading(True)
    return exchange
