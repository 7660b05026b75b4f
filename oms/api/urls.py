from __future__ import annotations

from collections.abc import Iterable

from django.urls import URLPattern, path, register_converter
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from oms.api import controls, views
from oms.core.readside import ReadSide, read_sides


class IdConverter:
    """An opaque id in a path: any characters but '/' and NUL (which PostgreSQL cannot compare)."""

    regex = "[^/\x00]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class SymbolConverter(IdConverter):
    """A symbol as the last segment of a path: ccxt's unified symbols contain '/' (`BTC/USDT:USDT`),
    so everything after the venue's segment is the symbol (but NUL)."""

    regex = "[^\x00]+"


register_converter(IdConverter, "id")
register_converter(SymbolConverter, "symbol")


def query_urls(reads: Iterable[ReadSide]) -> list[URLPattern]:
    """/queries/<path>, /<id>, /<id>/events (and /<id>/tree) for each registered aggregate.

    URL names: the list is named by its path (`orders`), one object by its name (`order`, `quote-request`),
    then `<name>-events` and `<name>-tree`.
    """
    patterns = []
    for read in reads:
        v = views.query_views(read)
        one = read.name.replace("_", "-")
        item = f"queries/{read.path}/<id:{read.id_field}>"
        patterns += [
            path(f"queries/{read.path}", v.list.as_view(), name=read.path),
            path(item, v.detail.as_view(), name=one),
            path(f"{item}/events", v.events.as_view(), name=f"{one}-events"),
        ]
        if v.tree is not None:
            patterns.append(path(f"{item}/tree", v.tree.as_view(), name=f"{one}-tree"))
    return patterns


urlpatterns = [
    path("commands/orders/preview", controls.OrderPreviewView.as_view(), name="order-preview"),
    path("commands/rules/backtest", controls.RuleBacktestView.as_view(), name="rule-backtest"),
    path("commands/<id:topic>", views.CommandView.as_view(), name="commands"),
    *query_urls(read_sides()),
    path("queries/books/<id:venue>/<symbol:symbol>", controls.BookQueryView.as_view(), name="book"),
    path("queries/events", views.EventFeedView.as_view(), name="events"),
    path("schema", SpectacularAPIView.as_view(), name="schema"),
    path("docs", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
]
