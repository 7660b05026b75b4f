"""Metrics read at scrape time, from the database and this process's connection pool.

Not counters kept by the code: the publisher's backlog is where the durable cursors stand against
the end of the feed (true whichever process publishes), and the pool is asked for its stats.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db import connections
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from oms.core.models import PublisherCursor
from oms.core.publishing import feed


class PublisherBacklog(Collector):
    """`oms_publisher_backlog_events{sink}`: events committed but not yet confirmed by a durable
    sink (its cursor row). The live blotter sink keeps no cursor: its delay shows in the lag."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        backlog = GaugeMetricFamily(
            "oms_publisher_backlog_events",
            "Events behind the end of the feed, per durable sink",
            labels=["sink"],
        )
        end = feed.last_seq()
        for name, cursor in PublisherCursor.objects.values_list("name", "last_seq"):
            backlog.add_metric([name], max(0, end - cursor))
        yield backlog


# psycopg_pool's get_stats() keys -> our gauges
_POOL_STATS = {
    "pool_size": ("oms_db_pool_size", "Connections in the psycopg pool (in use or idle)"),
    "pool_available": ("oms_db_pool_available", "Idle connections in the psycopg pool"),
    "requests_waiting": ("oms_db_pool_requests_waiting", "Requests waiting for a pool connection"),
    "pool_max": ("oms_db_pool_max", "Configured maximum size of the psycopg pool"),
}


class DatabasePool(Collector):
    """psycopg pool stats per database alias, for the process serving the scrape (each worker
    process has its own pool). Empty without a pool (SQLite, DB_POOL=0)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        families = {
            key: GaugeMetricFamily(name, doc, labels=["alias"]) for key, (name, doc) in _POOL_STATS.items()
        }
        for alias in connections:
            pool = _pool(alias)
            if pool is None:
                continue
            stats = pool.get_stats()
            for key, family in families.items():
                family.add_metric([alias], stats.get(key, 0))
        yield from families.values()


def _pool(alias: str) -> Any:
    wrapper = connections[alias]
    if wrapper.vendor != "postgresql" or "pool" not in wrapper.settings_dict.get("OPTIONS", {}):
        return None
    return wrapper.pool  # type: ignore[attr-defined]  # the postgresql backend's wrapper (vendor checked above); Django's psycopg_pool.ConnectionPool for the alias (opened on first use)
