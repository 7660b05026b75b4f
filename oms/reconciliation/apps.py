from __future__ import annotations

from django.apps import AppConfig


class ReconciliationConfig(AppConfig):
    name = "oms.reconciliation"
    label = "reconciliation"
    verbose_name = "Reconciliation: discrepancies and runs"

    def ready(self) -> None:
        # registers the aggregates and their queries, the commands on `venues`, the open
        # discrepancies counter of SAFE mode's release and the venue stream's resync hook
        from oms.reconciliation import hooks, records, services  # noqa: F401
