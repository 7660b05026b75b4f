from __future__ import annotations

from django.apps import AppConfig


class QuotesConfig(AppConfig):
    name = "oms.quotes"
    label = "quotes"
    verbose_name = "Quotes (RFQ)"

    def ready(self) -> None:
        # registers the aggregates, their queries, handlers and derived indexes
        from oms.quotes import replay, repository, selectors, services  # noqa: F401
