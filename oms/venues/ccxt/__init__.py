"""The ccxt venue adapter: crypto spot, futures and perpetual venues through ccxt's unified API.

    mapping.py    ccxt's unified structures (order, trade, position, balance, order book, market)
                  -> the typed records of `oms.venues.adapter`; pure functions, no I/O
    errors.py     ccxt's exception hierarchy -> our typed errors (the heart of the adapter)
    exchange.py   the settings of one exchange (environment) and the factory of its ccxt object
    adapter.py    `CcxtAdapter(VenueAdapter)`: the calls, the unknown-outcome resolution, `has`
    stream.py     ccxt.pro `watch_*` behind the blocking `watch_executions` / `watch_book`
    apps.py       registers the `ccxt` adapter family and its instrument sources

The adapter name is `ccxt:<exchangeId>` (`ccxt:binance`, `ccxt:bybit`); docs/venues-ccxt.md says
how to run one (sandbox first).
"""
