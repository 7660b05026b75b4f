"""The OpenAPI description of the command bodies: each field as the domain's parsers
(oms/*/commands.py, executions/, rules/) take it, per topic and commandType."""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Any

from django.conf import settings
from drf_spectacular.utils import PolymorphicProxySerializer
from rest_framework import serializers as s

from executions.commands import FIELDS as EXECUTION_FIELDS
from oms.api.schema_base import DEC_HELP, ID_HELP, ID_MAX, TEXT_MAX, AnyField, enum_values, serializer_of
from oms.core.commands import fields_of
from oms.core.parsing import (
    COMMON_FIELDS,
    DECIMAL_PATTERN,
    DEFAULT_IDENTIFIER_PATTERN,
    declared_fields,
    is_internal,
)
from oms.orders.commands import FIELDS as ORDER_FIELDS
from oms.orders.enums import Handling, OrdType, Side, TimeInForce
from oms.quotes.commands import FIELDS as QUOTE_FIELDS
from oms.reconciliation.services import ResolveDiscrepancyCommand, RunReconciliationCommand
from oms.venues.simcommands import SimExternalTradeCommand, SimSetFaultsCommand, SimSetMarketCommand
from rules.books import SetBookCommand
from rules.controls import (
    CancelAllCommand,
    ConfirmArmingCommand,
    DisarmCommand,
    EngageSafeModeCommand,
    ReleaseSafeModeCommand,
    RequestArmingCommand,
)
from rules.enums import ControlScope, ControlSource, InstrumentKind, VenueMode
from rules.instruments import UpsertInstrumentCommand
from rules.limits import SetLimitsCommand
from rules.rulebook import COMMANDS as RULE_COMMANDS
from rules.venues import UpsertVenueCommand

# --- command fields: as the parsers in oms/*/commands.py and executions/ take them ---------------
# An optional field may be null (the server reads null as absent); a required one may not.


def _id(required: bool = False) -> AnyField:
    pattern = getattr(settings, "OMS_IDENTIFIER_PATTERN", DEFAULT_IDENTIFIER_PATTERN)
    return s.RegexField(
        f"^(?:{pattern})$",
        max_length=ID_MAX,
        required=required,
        allow_null=not required,
        help_text=ID_HELP,
    )


def _dec(required: bool = False) -> AnyField:
    return s.RegexField(
        DECIMAL_PATTERN, max_length=40, required=required, allow_null=not required, help_text=DEC_HELP
    )


def _text() -> AnyField:
    return s.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        max_length=TEXT_MAX,
        help_text="free text: any Unicode but control (tab, newlines aside) and bidi control characters",
    )


def _choice(enum: type[Enum], required: bool = False) -> AnyField:
    return s.ChoiceField(enum_values(enum), required=required, allow_null=not required)


def _time() -> AnyField:
    return s.DateTimeField(required=False, allow_null=True, help_text="ISO-8601; UTC when no offset is given")


_FIELD_KINDS: dict[str, Callable[..., AnyField]] = {
    "text": _text,
    "attributes": lambda: s.DictField(
        required=False,
        allow_null=True,
        help_text="asset-class specific fields: at most OMS_ATTRIBUTES_MAX_KEYS keys (64) in all, "
        "OMS_ATTRIBUTES_MAX_BYTES (16 KB) as JSON, nested OMS_ATTRIBUTES_MAX_DEPTH (4) levels",
    ),
    "side": lambda required=False: _choice(Side, required),
    "ordType": lambda required=False: _choice(OrdType, required),
    "timeInForce": lambda: _choice(TimeInForce),
    "handling": lambda: _choice(Handling),
    "expireTime": _time,
    "validUntilTime": _time,
    "transactTime": _time,
    # the trading controls' commands (rules/)
    "kind": lambda: _choice(InstrumentKind, required=True),
    "enabled": lambda: s.BooleanField(required=False, help_text="default true"),
    "allowMarketOrders": lambda: s.BooleanField(required=False, allow_null=True),
    "maxOrdersPerSecond": lambda: s.IntegerField(required=False, allow_null=True, min_value=1),
    "maxCancelReplacePerMinute": lambda: s.IntegerField(required=False, allow_null=True, min_value=1),
    "priority": lambda: s.IntegerField(
        required=False, min_value=-1_000_000, max_value=1_000_000, help_text="lower first; default 100"
    ),
    "when": lambda required=False: s.JSONField(
        required=required,
        allow_null=not required,
        help_text='a condition: {"all": [c, ...]}, {"any": [c, ...]}, {"not": c} or {"field", "op", "value"}; '
        "op in ==, !=, <, <=, >, >=, in, not_in; field symbol, side, account, venue, ordType, "
        "timeInForce, orderQty, price, handling, notional, timeOfDay (HH:MM UTC)",
    ),
    "action": lambda required=False: s.JSONField(
        required=required,
        allow_null=not required,
        help_text='{"handling": "Desk", "reason": "..."} or {"refuse": true, "reason": "..."}',
    ),
    "bids": lambda: _levels("best (highest) first"),
    "asks": lambda: _levels("best (lowest) first"),
    # the SIM venue's commands (oms/venues)
    "faults": lambda: s.DictField(
        help_text="any of dropAck, duplicateFills, reorderFills, dropStream, seqGap, snapshotLagMs, "
        "rejectNext, rateLimitNext, timeoutNext (and latencyMs): a count or a number >= 0",
    ),
    "mode": lambda: _choice(VenueMode, required=True),
    "scope": lambda: _choice(ControlScope, required=True),
    "source": lambda: _choice(ControlSource),
    "reason": _text,
    "key": lambda: s.CharField(
        required=False,
        allow_null=True,
        max_length=2 * ID_MAX + 1,
        help_text="the venue, account or symbol (a symbol at one venue: VENUE:SYMBOL); none for global",
    ),
    "adapter": lambda: s.RegexField(
        r"^(MANUAL|SIM|ccxt:[a-z0-9_]{1,50})$", help_text="MANUAL, SIM or ccxt:<exchangeId>"
    ),
}
_DECIMALS = {"orderQty", "price", "stopPx", "lastQty", "lastPx", "bidPx", "offerPx", "bidSize", "offerSize"}
_DECIMALS |= {"tickSize", "lotSize", "minQty", "multiplier"}
_DECIMALS |= {"maxOrderQty", "maxOrderNotional", "priceCollarPct", "maxOpenNotional"}
_DECIMALS |= {"askPx", "askSize", "qty", "px"}  # the SIM venue's commands (oms/venues)
# what each command type requires (the rest of its declared fields are optional)
_REQUIRED: dict[str, set[str]] = {
    # a child order (with parentId) may omit symbol, side, ordType and account: it inherits them
    "CreateOrderCommand": {"clOrdID", "symbol", "side", "orderQty", "ordType", "account"},
    "CancelOrderCommand": {"orderId", "clOrdID"},
    "ReplaceOrderCommand": {"orderId", "clOrdID"},
    "ExecuteOrderCommand": {"orderId", "execID", "lastQty", "lastPx"},
    "CreateQuoteRequestCommand": {"quoteReqID", "symbol", "side", "orderQty", "account"},
    "CreateQuoteCommand": {"quoteID", "quoteReqID"},
    "UpsertInstrumentCommand": {"venue", "symbol", "kind", "tickSize", "lotSize"},
    "SetBookCommand": {"venue", "symbol"},
    "SetLimitsCommand": {"account", "symbol"},
    "SimSetMarketCommand": {"symbol", "bidPx", "askPx", "bidSize", "askSize"},
    "SimExternalTradeCommand": {"account", "symbol", "side", "qty", "px"},
    "UpsertVenueCommand": {"venue", "adapter", "mode"},
    "RunReconciliationCommand": {"venue"},
    "ResolveDiscrepancyCommand": {"discrepancyId", "reason"},
    "EngageSafeModeCommand": {"scope", "reason"},
    "ReleaseSafeModeCommand": {"controlId", "reason"},
    "RequestArmingCommand": {"venue"},
    "ConfirmArmingCommand": {"venue"},
    "DisarmCommand": {"venue"},
    "CancelAllCommand": {"scope"},
    "CreateRuleCommand": {"name", "when", "action"},
}
# the object a command acts on: the first of these it takes (AllocateExecutionCommand's orderId is
# an optional retarget)
_TARGETS = ("executionId", "quoteId", "quoteRequestId", "orderId", "ruleId", "discrepancyId")


def _levels(order: str) -> AnyField:
    return s.ListField(
        child=s.ListField(child=_dec(True), min_length=2, max_length=2),
        required=False,
        max_length=500,
        help_text=f"price levels [price, quantity], {order}; at most 500",
    )


def _command_field(command_type: str, name: str) -> AnyField:
    fields = declared_fields(command_type) or frozenset()
    target = next((t for t in _TARGETS if t in fields), None)
    required = name in _REQUIRED.get(command_type, set()) or name == target
    if name in _DECIMALS:
        return _dec(required)
    if name in ("side", "ordType", "when", "action"):
        return _FIELD_KINDS[name](required)
    if name in _FIELD_KINDS:
        return _FIELD_KINDS[name]()
    return _id(required)


# the commands a client may send, per topic (the lifecycle job's Expire*Quote* commands are not)
TOPICS: dict[str, dict[str, tuple[str, ...]]] = {
    "orders": ORDER_FIELDS,
    "executions": EXECUTION_FIELDS,
    "quote-requests": {k: v for k, v in QUOTE_FIELDS.items() if "QuoteRequest" in k},
    "quotes": {k: v for k, v in QUOTE_FIELDS.items() if "QuoteRequest" not in k},
    # the trading controls (rules/): instruments and limits superuser only, books desk or superuser
    "instruments": fields_of(UpsertInstrumentCommand),
    "books": fields_of(SetBookCommand),
    "limits": fields_of(SetLimitsCommand),
    # the SIM venue (oms/venues): superuser only
    "sim": fields_of(SimSetMarketCommand, SimSetFaultsCommand, SimExternalTradeCommand),
    # the venue registry (rules/venues.py): superuser; RecordVenueFeedCommand is the workers' own
    # and reconciliation (oms/reconciliation/): desk or superuser
    "venues": fields_of(UpsertVenueCommand, RunReconciliationCommand, ResolveDiscrepancyCommand),
    # the control plane (rules/controls.py; CancelAll is handled by oms/orders/kill_switch.py)
    "controls": fields_of(
        EngageSafeModeCommand,
        ReleaseSafeModeCommand,
        RequestArmingCommand,
        ConfirmArmingCommand,
        DisarmCommand,
        CancelAllCommand,
    ),
    "rules": fields_of(*RULE_COMMANDS),
}


def _command_serializer(command_type: str) -> type[s.Serializer[Any]]:
    names = sorted((declared_fields(command_type) or frozenset()) - COMMON_FIELDS)
    return serializer_of(
        command_type,
        {
            "commandType": s.ChoiceField([command_type]),
            "expectedVersion": s.IntegerField(
                required=False, allow_null=True, min_value=0, help_text="409 version_conflict if not current"
            ),
            **{name: _command_field(command_type, name) for name in names},
        },
    )


COMMAND_SERIALIZERS: dict[str, dict[str, type[s.Serializer[Any]]]] = {
    topic: {t: _command_serializer(t) for t in commands if not is_internal(t)}
    for topic, commands in TOPICS.items()
}

# every command, for the one URL pattern that serves them all; `split_command_paths` documents it
# as one path per topic, each with its own commands and discriminator mapping
COMMAND_REQUEST = PolymorphicProxySerializer(
    component_name="Command",
    serializers={t: ser for by_type in COMMAND_SERIALIZERS.values() for t, ser in by_type.items()},
    resource_type_field_name="commandType",
)
