"""Serializers that document the contract in the OpenAPI schema (/api/schema, /api/docs).

They describe; they do not parse. Commands are parsed by the domain (oms/*/commands.py) and
state is returned as the stored document, so the hot paths pay nothing for DRF serializers.
"""

from __future__ import annotations

from collections.abc import Callable
from copy import deepcopy
from enum import Enum
from typing import Any

from django.conf import settings
from drf_spectacular.utils import PolymorphicProxySerializer
from rest_framework import serializers as s

from executions.actions import EXECUTION_ACTIONS
from executions.commands import FIELDS as EXECUTION_FIELDS
from executions.enums import ExecStatus
from oms.core.commands import fields_of
from oms.core.parsing import (
    COMMON_FIELDS,
    DECIMAL_PATTERN,
    DEFAULT_IDENTIFIER_PATTERN,
    declared_fields,
    is_internal,
)
from oms.orders.actions import ORDER_ACTIONS
from oms.orders.commands import FIELDS as ORDER_FIELDS
from oms.orders.enums import Handling, Kind, OrdStatus, OrdType, Phase, Side, TimeInForce
from oms.quotes.actions import QUOTE_ACTIONS, REQUEST_ACTIONS
from oms.quotes.commands import FIELDS as QUOTE_FIELDS
from oms.quotes.enums import QuoteRequestStatus, QuoteStatus
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

AnyField = s.Field[Any, Any, Any, Any]

ID_MAX = 64
TEXT_MAX = 1000
_ID_HELP = "an identifier: printable ASCII without spaces, quotes, backslash, backtick, & < > (OMS_IDENTIFIER_PATTERN)"
_DEC_HELP = (
    'a decimal as a plain ASCII string, e.g. "100.25": at most 18 integer digits and 10 decimals '
    "(a JSON number is accepted too, for older clients; send strings)"
)


def _serializer(name: str, fields: dict[str, AnyField]) -> type[s.Serializer[Any]]:
    return type(name, (s.Serializer,), dict(fields))


def _values(enum: type[Enum]) -> list[str]:
    return [str(e.value) for e in enum]


# the status enums by name in the schema (SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"])
ORD_STATUSES = _values(OrdStatus)
EXEC_STATUSES = _values(ExecStatus)
QUOTE_REQUEST_STATUSES = _values(QuoteRequestStatus)
QUOTE_STATUSES = _values(QuoteStatus)
INSTRUMENT_KINDS = _values(InstrumentKind)
ORDER_KINDS = _values(Kind)


# --- command fields: as the parsers in oms/*/commands.py and executions/ take them ---------------
# An optional field may be null (the server reads null as absent); a required one may not.


def _id(required: bool = False) -> AnyField:
    pattern = getattr(settings, "OMS_IDENTIFIER_PATTERN", DEFAULT_IDENTIFIER_PATTERN)
    return s.RegexField(
        f"^(?:{pattern})$",
        max_length=ID_MAX,
        required=required,
        allow_null=not required,
        help_text=_ID_HELP,
    )


def _dec(required: bool = False) -> AnyField:
    return s.RegexField(
        DECIMAL_PATTERN, max_length=40, required=required, allow_null=not required, help_text=_DEC_HELP
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
    return s.ChoiceField(_values(enum), required=required, allow_null=not required)


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
_TARGETS = ("executionId", "quoteId", "quoteRequestId", "orderId", "ruleId")


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
    "venues": fields_of(UpsertVenueCommand),
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
    return _serializer(
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

# --- documents the server answers: every key always present, null where the state has none ----


def _str(null: bool = False) -> AnyField:
    return s.CharField(allow_null=null)


def _num(null: bool = False) -> AnyField:
    return s.CharField(allow_null=null, help_text='decimal as a string, e.g. "100.25"')


def _when(null: bool = False) -> AnyField:
    return s.DateTimeField(allow_null=null)


def _enum(enum: type[Enum]) -> AnyField:
    return s.ChoiceField(_values(enum))


def _obj(null: bool = False) -> AnyField:
    return s.DictField(allow_null=null)


def _allowed(actions: tuple[str, ...]) -> s.ListField:
    # plain strings, the values named in the help: four enums of one field name collide in naming
    return s.ListField(
        child=s.CharField(),
        help_text="the desk actions the state machine allows in the current state, among: "
        + ", ".join(actions),
    )


_ORDER_FIELDS: dict[str, AnyField] = {
    "orderId": _str(),
    "clOrdID": _str(),
    "origClOrdID": _str(True),
    "kind": _enum(Kind),
    "rootId": _str(),
    "parentId": _str(True),
    "symbol": _str(),
    "side": _enum(Side),
    "orderQty": _num(),
    "ordType": _enum(OrdType),
    "price": _num(True),
    "stopPx": _num(True),
    "timeInForce": _enum(TimeInForce),
    "expireTime": _when(True),
    "account": _str(),
    "venue": _str(True),
    "status": _enum(OrdStatus),
    "cumQty": _num(),
    "leavesQty": _num(),
    "avgPx": _num(),
    "grossTradeAmt": _num(),
    "allocatedQty": _num(True),
    "placedQty": _num(),
    "workingChildren": s.IntegerField(),
    "handling": _enum(Handling),
    "routingReason": _str(True),
    "routingRule": s.CharField(
        allow_null=True, help_text="the data rule that routed it (null: none matched)"
    ),
    "routingRuleVersion": s.IntegerField(allow_null=True, help_text="that rule's version"),
    "pending": _obj(True),
    "pendingCancel": _obj(True),
    "phase": _enum(Phase),
    "version": s.IntegerField(),
    "createdAt": _when(),
    "updatedAt": _when(),
    "text": _str(True),
    "attributes": _obj(),
    "allowedActions": _allowed(ORDER_ACTIONS),
}
ORDER_STATE = _serializer("OrderState", _ORDER_FIELDS)

EXECUTION_STATE = _serializer(
    "ExecutionState",
    {
        "executionId": _str(),
        "execID": _str(),
        "orderId": _str(),
        "clientOrderId": _str(True),
        "lastQty": _num(),
        "lastPx": _num(),
        "venue": _str(),
        "status": _enum(ExecStatus),
        "reviewReasons": s.ListField(child=s.CharField()),
        "reviewDetails": _obj(),
        "overriddenReasons": s.ListField(child=s.CharField()),
        "text": _str(True),
        "version": s.IntegerField(),
        "transactTime": _when(),
        "createdAt": _when(),
        "updatedAt": _when(),
        "allowedActions": _allowed(EXECUTION_ACTIONS),
    },
)

QUOTE_REQUEST_STATE = _serializer(
    "QuoteRequestState",
    {
        "quoteRequestId": _str(),
        "quoteReqID": _str(),
        "symbol": _str(),
        "side": _enum(Side),
        "orderQty": _num(),
        "account": _str(),
        "validUntilTime": _when(True),
        "status": _enum(QuoteRequestStatus),
        "quoteIds": s.ListField(child=s.CharField()),
        "acceptedQuoteId": _str(True),
        "orderId": _str(True),
        "text": _str(True),
        "version": s.IntegerField(),
        "createdAt": _when(),
        "updatedAt": _when(),
        "allowedActions": _allowed(REQUEST_ACTIONS),
    },
)

QUOTE_STATE = _serializer(
    "QuoteState",
    {
        "quoteId": _str(),
        "quoteID": _str(),
        "quoteRequestId": _str(),
        "quoteReqID": _str(),
        "symbol": _str(),
        "side": _enum(Side),
        "account": _str(),
        "bidPx": _num(True),
        "offerPx": _num(True),
        "bidSize": _num(True),
        "offerSize": _num(True),
        "validUntilTime": _when(True),
        "status": _enum(QuoteStatus),
        "orderId": _str(True),
        "orderClOrdID": _str(True),
        "acceptedPx": _num(True),
        "acceptedQty": _num(True),
        "text": _str(True),
        "version": s.IntegerField(),
        "createdAt": _when(),
        "updatedAt": _when(),
        "allowedActions": _allowed(QUOTE_ACTIONS),
    },
)

EVENT = _serializer(
    "Event",
    {
        "seq": s.IntegerField(),
        "topic": s.ChoiceField(
            [
                "order-events",
                "execution-events",
                "quote-request-events",
                "quote-events",
                # the trading controls (rules/): instruments, limits, rules, refusals (OrderRefused)
                "instrument-events",
                "limit-events",
                "rule-events",
                "control-events",
                "venue-events",
                # positions (oms/positions/): fills, open orders and dirty flags
                "position-events",
            ]
        ),
        "type": _str(),
        "aggregateId": _str(),
        "version": s.IntegerField(),
        "data": _obj(),
        "command": _obj(),
        "state": _obj(),
        "actor": _str(),
        "correlationId": _str(),
        "occurredAt": _when(),
        "recordedAt": _when(),
    },
)


def _page(name: str, item: type[s.Serializer[Any]]) -> type[s.Serializer[Any]]:
    return _serializer(
        name,
        {
            "count": s.IntegerField(),
            "next": s.URLField(allow_null=True),
            "previous": s.URLField(allow_null=True),
            "results": item(many=True),
        },
    )


EVENT_PAGE = _page("EventPage", EVENT)  # the event feed and each object's events

ORDER_TREE = _serializer(
    "OrderTree",
    {
        **deepcopy(_ORDER_FIELDS),
        "children": s.ListField(child=s.DictField(), help_text="child orders, each an OrderTree"),
    },
)

COMMAND_RESPONSE = _serializer(
    "CommandResponse",
    {
        "order": ORDER_STATE(required=False),
        "execution": EXECUTION_STATE(required=False),
        "quoteRequest": QUOTE_REQUEST_STATE(required=False),
        "quote": QUOTE_STATE(required=False),
        "closedQuotes": QUOTE_STATE(many=True, required=False),
        "duplicate": s.BooleanField(),
        "events": EVENT(many=True),
    },
)

# --- errors: every 4xx in the contract's shape ------------------------------------------------------

ERROR_DETAIL = _serializer(
    "ErrorDetail",
    {
        "code": s.CharField(help_text="stable snake_case code, e.g. validation_failed, not_found"),
        "message": s.CharField(),
        "fields": s.DictField(child=s.ListField(child=s.CharField()), help_text="messages per field"),
    },
)
ERROR = _serializer("Error", {"error": ERROR_DETAIL()})

_ERRORS = {
    "400": "validation_failed: malformed or invalid fields or query parameters",
    "401": "not_authenticated / authentication_failed",
    "403": "permission_denied: the user's role may not do this",
    "404": "not_found: no such object",
    "409": "invalid_transition, version_conflict, replace_pending, duplicate_cl_ord_id, exceeds_parent_quantity, duplicate_rule_name",
    "413": "payload_too_large: the body is over the limit (DATA_UPLOAD_MAX_MEMORY_SIZE)",
    "415": "unsupported_media_type: commands are JSON",
    "422": "rule_refused (with the rule's name), idempotency_key_reused",
}


def _error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def split_command_paths(result: dict[str, Any], generator: Any, **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: the exact schema of the running API.

    - `/api/commands/{topic}` becomes one path per topic, each with its commands only (a
      discriminator on `commandType` mapping every command type to its schema);
    - every operation documents its 4xx answers in the error shape: 400, 401, 403 everywhere, 404
      where a path names an object, and 404, 409, 413, 415, 422 for commands.
    """
    paths = result.get("paths", {})
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    generic = paths.pop("/api/commands/{topic}", None)
    if generic is not None:
        operation = generic["post"]
        operation["parameters"] = [p for p in operation.get("parameters", []) if p.get("name") != "topic"]
        for topic, by_type in COMMAND_SERIALIZERS.items():
            op = deepcopy(operation)
            name = "".join(part.title() for part in topic.split("-"))
            op["operationId"] = f"commands_{topic.replace('-', '_')}"
            op["summary"] = f"Send a command on {topic}"
            refs = {t: f"#/components/schemas/{t}" for t in by_type}
            body_schema = {
                "oneOf": [{"$ref": ref} for ref in refs.values()],
                "discriminator": {"propertyName": "commandType", "mapping": refs},
            }
            schemas[f"{name}Command"] = body_schema
            op["requestBody"] = {
                "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}Command"}}},
                "required": True,
            }
            paths[f"/api/commands/{topic}"] = {"post": op}
        schemas.pop("Command", None)
    for path, item in paths.items():
        for method, op in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            codes = ["400", "401", "403"]
            if "{" in path:
                codes.append("404")
            if path.startswith("/api/commands/"):
                codes += ["404", "409", "413", "415", "422"]
            responses = op.setdefault("responses", {})
            for code in codes:
                responses.setdefault(code, _error_response(_ERRORS[code]))
    return result
