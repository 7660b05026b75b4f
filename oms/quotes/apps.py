from __future__ import annotations

from django.apps import AppConfig


class QuotesConfig(AppConfig):
    name = "oms.quotes"
    label = "quotes"
    verbose_name = "Quotes (RFQ)"

    def ready(self) -> None:
        # registers the aggregates, their handlers and their derived indexes
        from oms.quotes import replay, repository, services  # noqa: F401
