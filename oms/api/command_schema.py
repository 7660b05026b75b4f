"""The OpenAPI description of the command bodies, per topic and commandType, from the command
models (`oms.core.commands.Command`): a field is required as its model says (or a rule of the
command, `_REQUIRED_BY_RULE`), a decimal, an enum (its values) or a date-time by its annotation,
an identifier otherwise; fields of a kind of their own (conditions, price levels, free text,
bounded integers) by name in `_FIELD_KINDS`."""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Any

from django.conf import settings
from drf_spectacular.utils import PolymorphicProxySerializer
from rest_framework import serializers as s

from executions.commands import FIELDS as EXECUTION_FIELDS
from oms.api.schema_base import DEC_HELP, ID_HELP, ID_MAX, TEXT_MAX, AnyField, enum_values, serializer_of
from oms.core.commands import command_class, fields_of
from oms.core.documents import JsonType, json_type
from oms.core.parsing import (
    COMMON_FIELDS,
    DECIMAL_PATTERN,
    DEFAULT_IDENTIFIER_PATTERN,
    declared_fields,
    is_internal,
)
from oms.orders.commands import FIELDS as ORDER_FIELDS
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
from rules.instruments import UpsertInstrumentCommand
from rules.limits import SetLimitsCommand
from rules.rulebook import COMMANDS as RULE_COMMANDS
from rules.venues import UpsertVenueCommand

# --- command fields: as the command models take them ----------------------------------------------
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
    # the trading controls' commands (rules/)
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
# what a command requires beyond its model's required fields: a child order (with parentId) may
# omit symbol, side, ordType and account (it inherits them), a client order may not (a rule of the
# command, refused in the same 400 as the fields)
_REQUIRED_BY_RULE: dict[str, set[str]] = {
    "CreateOrderCommand": {"symbol", "side", "ordType", "account"},
}


def _levels(order: str) -> AnyField:
    return s.ListField(
        child=s.ListField(child=_dec(True), min_length=2, max_length=2),
        required=False,
        max_length=500,
        help_text=f"price levels [price, quantity], {order}; at most 500",
    )


def _command_field(command_type: str, name: str) -> AnyField:
    """A body field as the command model types it: required as the model (or a rule) says, a
    decimal, an enum or a date-time by its annotation, an identifier otherwise; the fields of a
    kind of their own (conditions, levels, free text, bounded integers) by `_FIELD_KINDS`."""
    info = command_class(command_type).api_field(name)
    required = info.is_required() or name in _REQUIRED_BY_RULE.get(command_type, set())
    if name in ("when", "action"):
        return _FIELD_KINDS[name](required)
    if name in _FIELD_KINDS:
        return _FIELD_KINDS[name]()
    kind, _, enum, _ = json_type(info.annotation)
    if kind is JsonType.DECIMAL:
        return _dec(required)
    if kind is JsonType.ENUM and enum is not None:
        return _choice(enum, required)
    if kind is JsonType.DATETIME:
        return _time()
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
