"""`manage.py seed_demo` seeds the trading controls' reference data through the command bus (issue
10, items 1 and 6): the venue registry, instruments (the SIM adapter's and the demo equities), the
books that price the collar and the preview, and a disabled demo rule beside the default rules;
the preview prices an order against the seeded book end to end."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

from rules.models import Book, Instrument, Rule, Venue
from rules.seed import DEFAULT_RULES

pytestmark = pytest.mark.django_db


def test_seed_demo_seeds_venues_instruments_books_and_rules_the_preview_uses(
    settings: Any, desk: Any
) -> None:
    settings.DEBUG = True
    call_command("seed_demo", "--no-orders", stdout=StringIO())

    assert {v.venue for v in Venue.objects.all()} >= {"SIM", "MANUAL"}
    assert Instrument.objects.filter(venue="SIM", symbol="BTC-PERP", enabled=True).exists()
    assert Instrument.objects.filter(venue="XNAS", symbol="AAPL").exists()
    assert {(b.venue, b.symbol) for b in Book.objects.all()} >= {("SIM", "BTC-PERP"), ("XNAS", "AAPL")}
    rules = {r.name: r.enabled for r in Rule.objects.all()}
    assert all(rules[d["name"]] for d in DEFAULT_RULES) and rules["large_sim_orders_to_desk"] is False

    body = {
        "commandType": "CreateOrderCommand",
        "clOrdID": "PREVIEW-1",
        "symbol": "AAPL",
        "side": "Buy",
        "orderQty": "100",
        "ordType": "Limit",
        "price": "190.025",  # off the equity's tick
        "account": "ACC1",
        "venue": "XNAS",
    }
    answer = desk.post("/api/commands/orders/preview", body, format="json").json()
    assert Decimal(answer["estimate"]["referencePx"]) == Decimal("190.02")  # the seeded far touch
    assert [r["rule"] for r in answer["refusals"]] == ["tick_size"]
    answer = desk.post("/api/commands/orders/preview", {**body, "price": "190.02"}, format="json").json()
    assert answer["accepted"] is True and answer["refusals"] == []

    call_command("seed_demo", "--no-orders", stdout=StringIO())  # idempotent
    assert Rule.objects.filter(name="large_sim_orders_to_desk").count() == 1
