"""The order commands of the contract as typed, immutable records (pure: no database).

Each class is one `commandType`; its fields are parsed once at the edge (`dispatch`) and handed
to the handler in `services.py` as keyword-only arguments. Field errors are collected per field
first; cross-field rules run through the validation engine as named predicates (configurable,
extensible by asset-class apps), in the same 400.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import Field

from oms.core.commands import (
    Attributes,
    Command,
    Id,
    OptDateTime,
    OptId,
    OptQty,
    Qty,
    Text,
    Version,
    choice,
    fields_of,
)
from oms.core.parsing import dec_str, iso
from oms.core.validation import Rule, Validator
from oms.orders.enums import Handling, OrdType, Side, TimeInForce

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
            requires=("ordType", "price"),
        ),
        Rule(
            "no_price_for_market",
            "price",
            lambda c: c.get("ordType") != OrdType.MARKET.value or c.get("price") is None,
            "Market orders carry no price.",
            requires=("ordType", "price"),
        ),
        Rule(
            "stop_px_required_for_stop",
            "stopPx",
            lambda c: c.get("ordType") not in _STOPPED or c.get("stopPx") is not None,
            "Required for Stop and StopLimit orders.",
            requires=("ordType", "stopPx"),
        ),
        Rule(
            "expire_time_required_for_gtd",
            "expireTime",
            lambda c: c.get("timeInForce") != TimeInForce.GTD.value or c.get("expireTime") is not None,
            "Required when timeInForce is GTD.",
            requires=("timeInForce", "expireTime"),
        ),
        Rule(
            "expire_time_only_for_gtd",
            "expireTime",
            lambda c: c.get("expireTime") is None or c.get("timeInForce") == TimeInForce.GTD.value,
            "Only GTD orders carry an expireTime.",
            requires=("timeInForce", "expireTime"),
        ),
    ],
)


class CreateOrderCommand(Command):
    cl_ord_id: Id = Field(alias="clOrdID")  # FIX 11
    # a child (parentId given) inherits symbol, side, account and terms from its parent when omitted
    symbol: OptId = None  # FIX 55
    side: choice(Side) = None  # type: ignore[valid-type]  # FIX 54
    order_qty: Qty = Field(alias="orderQty")  # FIX 38
    ord_type: choice(OrdType) = Field(None, alias="ordType")  # type: ignore[valid-type]  # FIX 40
    price: OptQty = None  # FIX 44
    stop_px: OptQty = Field(None, alias="stopPx")  # FIX 99
    time_in_force: choice(TimeInForce) = Field(None, alias="timeInForce")  # type: ignore[valid-type]  # FIX 59
    expire_time: OptDateTime = Field(None, alias="expireTime")  # FIX 126
    account: OptId = None  # FIX 1
    venue: OptId = None
    parent_id: OptId = Field(None, alias="parentId")
    handling: choice(Handling) = None  # type: ignore[valid-type]  # choice() returns an Annotated type at run time (pydantic reads it)
    text: Text = None  # FIX 58
    attributes: Attributes = Field(default_factory=dict)

    _ROOT_REQUIRES: ClassVar[tuple[str, ...]] = ("symbol", "side", "ordType", "account")

    @classmethod
    def check(cls, values: Mapping[str, Any], errors: dict[str, list[str]]) -> dict[str, list[str]]:
        if values.get("parentId") is not None or "parentId" in errors:
            return errors
        for name in cls._ROOT_REQUIRES:
            if values.get(name) is None and name not in errors:
                errors[name] = ["This field is required."]
        terms = {
            "ordType": values.get("ordType"),
            "price": values.get("price"),
            "stopPx": values.get("stopPx"),
            "timeInForce": values.get("timeInForce") or TimeInForce.DAY,
            "expireTime": values.get("expireTime"),
        }
        return ORDER_TERMS.errors(terms, errors)

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


def check_terms(terms: dict[str, Any]) -> None:
    """Cross-field rules on the full terms of an order (children after inheriting, replaces after merging)."""
    ORDER_TERMS.validate(terms)


class OrderCommand(Command):
    """A command on an existing order: its id, the version the client saw (optional), a text."""

    order_id: Id = Field(alias="orderId")
    expected_version: Version = Field(None, alias="expectedVersion")
    text: Text = None


class AcceptOrderCommand(OrderCommand):
    pass


class RejectOrderCommand(OrderCommand):
    pass


class ExpireOrderCommand(OrderCommand):
    pass


class DoneForDayCommand(OrderCommand):
    pass


class ConfirmCancelCommand(OrderCommand):
    pass


class RejectCancelCommand(OrderCommand):
    pass


class ConfirmReplaceCommand(OrderCommand):
    pass


class RejectReplaceCommand(OrderCommand):
    pass


class CancelOrderCommand(OrderCommand):
    cl_ord_id: Id = Field(alias="clOrdID")


class _Terms(OrderCommand):
    """New terms of an order; at least one must be given."""

    _CHANGEABLE: ClassVar[str] = ""

    @classmethod
    def check(cls, values: Mapping[str, Any], errors: dict[str, list[str]]) -> dict[str, list[str]]:
        terms = [n for n in ("orderQty", "price", "stopPx", "timeInForce", "expireTime") if n in values]
        if not errors and all(values.get(n) is None for n in terms):
            errors["non_field_errors"] = [f"Give at least one of {cls._CHANGEABLE} to change."]
        return errors


class ReplaceOrderCommand(_Terms):
    _CHANGEABLE: ClassVar[str] = "orderQty, price, stopPx, timeInForce or expireTime"

    cl_ord_id: Id = Field(alias="clOrdID")
    order_qty: OptQty = Field(None, alias="orderQty")
    price: OptQty = None
    stop_px: OptQty = Field(None, alias="stopPx")
    time_in_force: choice(TimeInForce) = Field(None, alias="timeInForce")  # type: ignore[valid-type]  # choice() returns an Annotated type at run time (pydantic reads it)
    expire_time: OptDateTime = Field(None, alias="expireTime")


class RestateOrderCommand(_Terms):
    """The venue restates the order (FIX ExecType D): quantity and/or price."""

    _CHANGEABLE: ClassVar[str] = "orderQty or price"

    order_qty: OptQty = Field(None, alias="orderQty")
    price: OptQty = None


# commandType -> its fields (the OpenAPI description of the topic)
FIELDS = fields_of(
    CreateOrderCommand,
    CancelOrderCommand,
    ReplaceOrderCommand,
    AcceptOrderCommand,
    RejectOrderCommand,
    ConfirmCancelCommand,
    RejectCancelCommand,
    ConfirmReplaceCommand,
    RejectReplaceCommand,
    ExpireOrderCommand,
    DoneForDayCommand,
    RestateOrderCommand,
)
