from __future__ import annotations

from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "oms.orders"
    label = "orders"
    verbose_name = "Orders"

    def ready(self) -> None:
        # registers the aggregate, its queries, handlers, reactions and derived index (ClOrdID)
        from oms.orders import reactions, replay, reports, repository, selectors, services  # noqa: F401
