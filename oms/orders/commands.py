"""Parsing and validating order commands (pure: no database).

Field errors are collected per field first; cross-field rules run through the validation engine
as named predicates (configurable, extensible by asset-class apps).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from oms.core.parsing import Fields, dec_str, iso
from oms.core.validation import Rule, Validator
from oms.orders.enums import Handling, OrdType, Side, TimeInForce

ID_MAX = 64
TEXT_MAX = 1000

_PRICED = {OrdType.LIMIT.value, OrdType.STOP_LIMIT.value}
_STOPPED = {OrdType.STOP.value, OrdType.STOP_LIMIT.value}

ORDER_TERMS = Validator(
    "order terms",
    [
        Rule(
            "price_required_for_limit",
            "price",
            lambda c: c.get("ordType") not in _PRICED or c.get("price") is not None,
            "Required for Limit and StopLimit orders.",
            requires=("ordType",),
        ),
        Rule(
            "no_price_for_market",
            "price",
            lambda c: c.get("ordType") != OrdType.MARKET.value or c.get("price") is None,
            "Market orders carry no price.",
            requires=("ordType",),
        ),
        Rule(
            "stop_px_required_for_stop",
            "stopPx",
            lambda c: c.get("ordType") not in _STOPPED or c.get("stopPx") is not None,
            "Required for Stop and StopLimit orders.",
            requires=("ordType",),
        ),
        Rule(
            "expire_time_required_for_gtd",
            "expireTime",
            lambda c: c.get("timeInForce") != TimeInForce.GTD.value or c.get("expireTime") is not None,
            "Required when timeInForce is GTD.",
            requires=("timeInForce",),
        ),
        Rule(
            "expire_time_only_for_gtd",
            "expireTime",
            lambda c: c.get("expireTime") is None or c.get("timeInForce") == TimeInForce.GTD.value,
            "Only GTD orders carry an expireTime.",
            requires=("timeInForce",),
        ),
    ],
)


@dataclass
class CreateOrder:
    cl_ord_id: str
    symbol: str | None
    side: Side | None
    order_qty: Decimal
    ord_type: OrdType | None
    price: Decimal | None
    stop_px: Decimal | None
    time_in_force: TimeInForce | None
    expire_time: dt.datetime | None
    account: str | None
    venue: str | None
    parent_id: str | None
    handling: Handling | None
    text: str | None
    attributes: dict[str, Any]

    def fingerprint_fields(self) -> dict[str, Any]:
        """The content that decides whether a repeated clOrdID is the same order."""
        return {
            "clOrdID": self.cl_ord_id,
            "symbol": self.symbol,
            "side": self.side and self.side.value,
            "orderQty": dec_str(self.order_qty),
            "ordType": self.ord_type and self.ord_type.value,
            "price": dec_str(self.price),
            "stopPx": dec_str(self.stop_px),
            "timeInForce": self.time_in_force and self.time_in_force.value,
            "expireTime": iso(self.expire_time),
            "account": self.account,
            "venue": self.venue,
            "parentId": self.parent_id,
            "handling": self.handling and self.handling.value,
            "attributes": self.attributes,
        }


def parse_create(raw: dict[str, Any]) -> CreateOrder:
    f = Fields(raw)
    child = f.present("parentId")
    # ignores: a required field is None only when `f` recorded its error, raised before use
    cmd = CreateOrder(
        cl_ord_id=f.string("clOrdID", required=True, max_length=ID_MAX),  # type: ignore[arg-type]
        # a child inherits symbol, side, account and terms from its parent when they are omitted
        symbol=f.string("symbol", required=not child, max_length=ID_MAX),
        side=f.choice("side", Side, required=not child),
        order_qty=f.decimal("orderQty", required=True, positive=True),  # type: ignore[arg-type]
        ord_type=f.choice("ordType", OrdType, required=not child),
        price=f.decimal("price", positive=True),
        stop_px=f.decimal("stopPx", positive=True),
        time_in_force=f.choice("timeInForce", TimeInForce),
        expire_time=f.datetime("expireTime"),
        account=f.string("account", required=not child, max_length=ID_MAX),
        venue=f.string("venue", max_length=ID_MAX),
        parent_id=f.string("parentId", max_length=ID_MAX),
        handling=f.choice("handling", Handling),
        text=f.string("text", max_length=TEXT_MAX),
        attributes=f.obj("attributes") or {},
    )
    if not child:
        terms = {
            "ordType": cmd.ord_type and cmd.ord_type.value,
            "price": cmd.price,
            "stopPx": cmd.stop_px,
            "timeInForce": (cmd.time_in_force or TimeInForce.DAY).value,
            "expireTime": cmd.expire_time,
        }
        f.errors = ORDER_TERMS.errors(terms, f.errors)
    f.raise_if_errors("invalid CreateOrderCommand")
    return cmd


def check_terms(terms: dict[str, Any]) -> None:
    """Cross-field rules on the full terms of an order (children after inheriting, replaces after merging)."""
    ORDER_TERMS.validate(terms)


@dataclass
class OrderRef:
    order_id: str
    expected_version: int | None
    text: str | None
    fields: Fields


def parse_ref(raw: dict[str, Any], *, text: bool = True) -> OrderRef:
    f = Fields(raw)
    # ignores: a required field is None only when `f` recorded its error, raised before use
    ref = OrderRef(
        order_id=f.string("orderId", required=True, max_length=ID_MAX),  # type: ignore[arg-type]
        expected_version=f.integer("expectedVersion", minimum=0),
        text=f.string("text", max_length=TEXT_MAX) if text else None,
        fields=f,
    )
    return ref


@dataclass
class ReplaceTerms:
    cl_ord_id: str | None
    order_qty: Decimal | None
    price: Decimal | None
    stop_px: Decimal | None
    time_in_force: TimeInForce | None
    expire_time: dt.datetime | None

    def as_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.cl_ord_id is not None:
            data["clOrdID"] = self.cl_ord_id
        if self.order_qty is not None:
            data["orderQty"] = dec_str(self.order_qty)
        if self.price is not None:
            data["price"] = dec_str(self.price)
        if self.stop_px is not None:
            data["stopPx"] = dec_str(self.stop_px)
        if self.time_in_force is not None:
            data["timeInForce"] = self.time_in_force.value
        if self.expire_time is not None:
            data["expireTime"] = iso(self.expire_time)
        return data

    @property
    def changes_anything(self) -> bool:
        return any(
            v is not None
            for v in (self.order_qty, self.price, self.stop_px, self.time_in_force, self.expire_time)
        )


def parse_replace(ref: OrderRef, *, restate: bool = False) -> ReplaceTerms:
    f = ref.fields
    terms = ReplaceTerms(
        cl_ord_id=None if restate else f.string("clOrdID", required=True, max_length=ID_MAX),
        order_qty=f.decimal("orderQty", positive=True),
        price=f.decimal("price", positive=True),
        stop_px=None if restate else f.decimal("stopPx", positive=True),
        time_in_force=None if restate else f.choice("timeInForce", TimeInForce),
        expire_time=None if restate else f.datetime("expireTime"),
    )
    if not f.errors and not terms.changes_anything:
        names = "orderQty or price" if restate else "orderQty, price, stopPx, timeInForce or expireTime"
        f.error("non_field_errors", f"Give at least one of {names} to change.")
    return terms
