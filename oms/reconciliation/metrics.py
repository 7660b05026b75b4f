"""Prometheus families of reconciliation (prometheus-client's default registry, like the others)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

DISCREPANCIES = Counter(
    "oms_reconciliation_discrepancies_total",
    "New discrepancies found by reconciliation (each an alert), by kind",
    ["venue", "kind"],
)
SYSTEMIC = Counter(
    "oms_reconciliation_venue_safe_total",
    "Times reconciliation put a whole venue in SAFE mode (discrepancies open on too many symbols)",
    ["venue"],
)
RUNS = Counter("oms_reconciliation_runs_total", "Reconciliation runs, by trigger", ["venue", "trigger"])
RUN_SECONDS = Histogram(
    "oms_reconciliation_run_seconds",
    "How long a reconciliation run took (venue reads, repairs, comparison)",
    ["venue"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
