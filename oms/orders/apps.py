from __future__ import annotations

from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "oms.orders"
    label = "orders"
    verbose_name = "Orders"

    def ready(self) -> None:
        # registers the aggregate, its queries, handlers (the kill switch's too), reactions, derived
        # index (ClOrdID) and the past client orders a rule backtest reads
        from oms.orders import (  # noqa: F401
            kill_switch,
            reactions,
            replay,
            reports,
            repository,
            rule_inputs,
            selectors,
            services,
        )
        from oms.orders.actions import use_adapter_venues
        from rules.venues import reported_by_adapter_hint

        # allowedActions leaves out the venue reports of orders an adapter reports (the registry,
        # through its process cache: no round trip added to the write pipeline once warm)
        use_adapter_venues(reported_by_adapter_hint)
