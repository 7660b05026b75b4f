from __future__ import annotations

from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "oms.orders"
    label = "orders"
    verbose_name = "Orders"

    def ready(self) -> None:
        # registers the aggregate, its queries, handlers (the kill switch's too), reactions and derived index
        from oms.orders import kill_switch, reactions, replay, reports, repository, selectors, services  # noqa: F401
