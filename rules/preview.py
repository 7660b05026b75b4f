"""Order preview: every check, the routing and a cost estimate for an order, writing nothing.

    preview(data) -> {"accepted", "refusals", "routing", "estimate"}

`data` is the order's API fields (the API parsed a CreateOrderCommand). The estimate walks the
far side of the order's book for its quantity (a limit order only through its limit): the
reference price (far touch), the average price, the notional (qty x price x multiplier), the
fees of the venue's schedule (`OMS_FEE_SCHEDULE`, taker bps), the slippage against the reference
and the levels taken.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.conf import settings

from oms.core.parsing import dec_str
from rules.intent import Lookups, OrderIntent
from rules.pretrade import evaluate
from rules.routing import route

BPS = Decimal(10_000)


def fee_bps(venue: str | None) -> Decimal:
    schedule = settings.OMS_FEE_SCHEDULE
    return Decimal(str(schedule.get(venue or "", schedule.get("*", "0"))))


def estimate(intent: OrderIntent, look: Lookups) -> dict[str, Any]:
    ref = look.reference_px
    levels: list[list[str | None]] = []
    filled = cost = Decimal(0)
    if look.book is not None:
        for px, size in look.book.far_side(intent.side):
            if filled >= intent.order_qty:
                break
            if intent.has_limit and intent.price is not None:
                if (intent.is_buy and px > intent.price) or (not intent.is_buy and px < intent.price):
                    break  # a limit order does not walk through its limit
            take = min(size, intent.order_qty - filled)
            levels.append([dec_str(px), dec_str(take)])
            filled += take
            cost += take * px
    avg = cost / filled if filled else None
    priced_at = avg if avg is not None else look.px
    notional = look.notional(intent.order_qty, priced_at)
    fees = notional * fee_bps(intent.venue) / BPS if notional is not None else None
    slippage = None
    if avg is not None and ref is not None:
        # what the walk costs beyond the reference (positive: worse than the touch)
        slippage = (avg - ref if intent.is_buy else ref - avg) * filled * look.multiplier
    return {
        "referencePx": dec_str(ref),
        "avgPx": dec_str(avg.quantize(Decimal("1e-10")).normalize() if avg is not None else None),
        "notional": dec_str(notional),
        "fees": dec_str(fees),
        "feeBps": dec_str(fee_bps(intent.venue)),
        "slippage": dec_str(slippage),
        "filledQty": dec_str(filled),
        "unfilledQty": dec_str(intent.order_qty - filled),
        "levels": levels,
    }


def preview(data: Mapping[str, Any]) -> dict[str, Any]:
    intent = OrderIntent.of(data)
    decision = route(data)
    # a refusing data rule comes first: the order would be refused by it before the checks run
    refusals = ([decision.refusal()] if decision.refuse else []) + evaluate(data)
    return {
        "accepted": not refusals,
        "refusals": [{"rule": r.rule, "message": r.message, "details": r.details} for r in refusals],
        "routing": {
            "handling": decision.handling,
            "routingReason": decision.reason,
            "routingRule": decision.rule,
        },
        "estimate": estimate(intent, Lookups(intent)),
    }
