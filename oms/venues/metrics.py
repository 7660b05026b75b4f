"""Prometheus families of venue I/O (on prometheus-client's default registry, like the core's)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

SENDS = Counter(
    "oms_venue_sends_total", "Requests sent to venues, by action and outcome", ["venue", "action", "outcome"]
)
UNKNOWN_REPORTS = Counter(
    "oms_venue_unknown_reports_total", "Venue reports of orders the OMS does not know", ["venue", "kind"]
)
STREAM_MESSAGES = Counter(
    "oms_venue_stream_messages_total", "Venue stream messages ingested, by kind", ["venue", "kind"]
)
STREAM_GAPS = Counter("oms_venue_stream_gaps_total", "Sequence gaps that forced a REST resync", ["venue"])
DUPLICATE_FILLS = Counter("oms_venue_duplicate_fills_total", "Fills seen again (same execID)", ["venue"])
FEED_STATE = Gauge(
    "oms_venue_feed_state",
    "Venue feed health: 0 Healthy, 1 Stale, 2 Down",
    ["venue"],
    multiprocess_mode="livemax",
)
FEED_ALERTS = Counter("oms_venue_feed_alerts_total", "Feed health changes, by new state", ["venue", "feed"])
