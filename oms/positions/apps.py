from __future__ import annotations

from django.apps import AppConfig


class PositionsConfig(AppConfig):
    name = "oms.positions"
    label = "positions"
    verbose_name = "Positions"

    def ready(self) -> None:
        # registers the aggregate, its queries, the projector on order events (fills and open
        # orders, in the same transaction), the dirty-flag commands and the checks' provider
        from oms.positions import dirty, projection, repository, selectors  # noqa: F401
