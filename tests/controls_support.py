"""Helpers of the trading-controls tests (tests/test_controls_*.py): instrument, book and limit
builders (the superuser client `boss` is a fixture of conftest.py)."""

from __future__ import annotations

from typing import Any

from rest_framework.test import APIClient

from rules.models import Refusal
from tests.test_api_commands import ok, order_body, send

__all__ = ["instrument", "ok", "order_body", "refusals", "send"]


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
