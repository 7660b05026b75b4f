"""Helpers of the trading-controls tests (tests/test_controls_*.py): instrument, book and limit
builders (the superuser client `boss` is a fixture of conftest.py)."""

from __future__ import annotations

from typing import Any

from rest_framework.test import APIClient

from oms.core.dispatch import dispatch
from rules.models import Refusal
from tests.test_api_commands import ok, order_body, send

__all__ = ["feed", "instrument", "ok", "order_body", "refusals", "send", "venue"]


def instrument(client: APIClient, venue: str, symbol: str, **fields: Any) -> dict[str, Any]:
    body = {
        "commandType": "UpsertInstrumentCommand",
        "venue": venue,
        "symbol": symbol,
        "kind": "Perpetual",
        "tickSize": "0.5",
        "lotSize": "0.01",
        "minQty": "0.02",
        "multiplier": "1",
        **fields,
    }
    return ok(client, "instruments", body)["instrument"]


def refusals(rule: str | None = None) -> list[dict[str, Any]]:
    rows = Refusal.objects.order_by("created_at")
    if rule:
        rows = rows.filter(rule=rule)
    return [r.doc for r in rows]


def venue(client: APIClient, name: str, adapter: str = "SIM", mode: str = "Paper") -> dict[str, Any]:
    body = {"commandType": "UpsertVenueCommand", "venue": name, "adapter": adapter, "mode": mode}
    return ok(client, "venues", body)["venue"]


def feed(name: str, state: str, **progress: Any) -> dict[str, Any]:
    """What a venue worker reports (RecordVenueFeedCommand is internal: in-process only)."""
    body = {"commandType": "RecordVenueFeedCommand", "venue": name, "feed": state, **progress}
    return dispatch("venues", body, actor="system:venue-worker").body["venue"]
