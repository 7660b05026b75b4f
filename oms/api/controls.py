"""The trading controls' part of the API: the documented shapes of their documents (added to the
generated query views' schemas), the book query (books are current state, not events) and the
order preview."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from enum import Enum
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers as s
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from oms.api.command_schema import COMMAND_SERIALIZERS
from oms.api.parsers import CommandJSONParser
from oms.api.views import DOCUMENT_SCHEMAS
from oms.core.errors import ValidationFailed
from oms.core.parsing import dec_str, unknown_fields
from oms.orders.commands import CreateOrderCommand
from rules.backtest import DEFAULT_LIMIT, MAX_LIMIT, backtest
from rules.books import book_document
from rules.preview import preview

AnyField = s.Field[Any, Any, Any, Any]


def _serializer(name: str, fields: dict[str, AnyField]) -> type[s.Serializer[Any]]:
    return type(name, (s.Serializer,), dict(fields))


def _dec() -> s.CharField:
    return s.CharField(required=False, allow_null=True, help_text='decimal as a string, e.g. "0.01"')


def _str() -> s.CharField:
    return s.CharField(required=False, allow_null=True)


_STAMPS: dict[str, AnyField] = {
    "version": s.IntegerField(),
    "createdAt": s.DateTimeField(),
    "updatedAt": s.DateTimeField(),
}

INSTRUMENT_STATE = _serializer(
    "InstrumentState",
    {
        "instrumentId": _str(),
        "venue": _str(),
        "symbol": _str(),
        "kind": s.CharField(help_text="Spot, Future, Perpetual or Equity"),
        "baseCurrency": _str(),
        "quoteCurrency": _str(),
        "tickSize": _dec(),
        "lotSize": _dec(),
        "minQty": _dec(),
        "multiplier": _dec(),
        "enabled": s.BooleanField(),
        **_STAMPS,
    },
)
LIMIT_STATE = _serializer(
    "LimitState",
    {
        "limitId": _str(),
        "account": _str(),
        "symbol": _str(),
        "maxOrderQty": _dec(),
        "maxOrderNotional": _dec(),
        "priceCollarPct": _dec(),
        "allowMarketOrders": s.BooleanField(allow_null=True),
        "maxOpenNotional": _dec(),
        "maxOrdersPerSecond": s.IntegerField(allow_null=True),
        "maxCancelReplacePerMinute": s.IntegerField(allow_null=True),
        **_STAMPS,
    },
)
REFUSAL_STATE = _serializer(
    "RefusalState",
    {
        "refusalId": _str(),
        "rule": _str(),
        "message": _str(),
        "details": s.DictField(),
        "commandType": _str(),
        "clOrdID": _str(),
        "orderId": _str(),
        "symbol": _str(),
        "side": _str(),
        "account": _str(),
        "venue": _str(),
        **_STAMPS,
    },
)
VENUE_STATE = _serializer(
    "VenueState",
    {
        "venueId": _str(),
        "venue": _str(),
        "adapter": s.CharField(help_text="MANUAL, SIM or ccxt:<exchangeId>"),
        "mode": s.CharField(help_text="Paper or Live (Live accepts orders only while armed)"),
        "armed": s.BooleanField(),
        "feed": s.CharField(
            help_text="Healthy, Stale or Down (new orders refused feed_stale unless Healthy)"
        ),
        "lastMessageAt": s.DateTimeField(allow_null=True),
        "lastSeq": s.IntegerField(allow_null=True),
        **_STAMPS,
    },
)
CONTROL_STATE = _serializer(
    "ControlState",
    {
        "controlId": _str(),
        "kind": s.CharField(help_text="SafeMode or Arming"),
        "scope": s.CharField(help_text="global, venue, account or symbol"),
        "key": s.CharField(
            help_text='the venue, account or symbol (VENUE:SYMBOL: a symbol at one venue); "*" for global'
        ),
        "reason": _str(),
        "status": s.CharField(help_text="SafeMode: Active, Released; Arming: Requested, Armed, Disarmed"),
        "active": s.BooleanField(),
        "source": s.CharField(help_text="desk, admin, reconciliation or watchdog"),
        "engagedBy": _str(),
        "engagedAt": s.DateTimeField(allow_null=True),
        "releasedBy": _str(),
        "releasedAt": s.DateTimeField(allow_null=True),
        "releaseReason": _str(),
        "requestedBy": _str(),
        "requestedAt": s.DateTimeField(allow_null=True),
        **_STAMPS,
    },
)
CANCEL_ALL_STATE = _serializer(
    "CancelAllState",
    {
        "cancelAllId": _str(),
        "scope": s.CharField(help_text="global, venue, account or symbol"),
        "key": s.CharField(),
        "reason": _str(),
        "canceled": s.ListField(child=s.CharField(), help_text="orderIds canceled at once"),
        "cancelRequested": s.ListField(
            child=s.CharField(), help_text="orderIds now PendingCancel: their venue (or the desk) confirms"
        ),
        "skipped": s.ListField(
            child=s.DictField(), help_text="in scope, not cancelable now: orderId, status, why"
        ),
        **_STAMPS,
    },
)
POSITION_STATE = _serializer(
    "PositionState",
    {
        "positionId": _str(),
        "account": _str(),
        "venue": s.CharField(allow_null=True, help_text="null: open orders not yet routed to a venue"),
        "symbol": _str(),
        "qty": s.CharField(help_text="signed (buys +, sells -): the sum of the applied executions"),
        "avgCost": s.CharField(help_text="weighted price of the open quantity; 0 when flat"),
        "realizedPnl": s.CharField(help_text="on reducing fills, x multiplier (quote currency)"),
        "unrealizedPnl": s.CharField(
            allow_null=True, help_text="(markPx - avgCost) x qty x multiplier; null without a book"
        ),
        "markPx": s.CharField(allow_null=True, help_text="the book's mid, at read time"),
        "multiplier": s.CharField(),
        "dirty": s.BooleanField(help_text="fills in flight or unreconciled: adding orders are refused"),
        "dirtyReasons": s.ListField(child=s.CharField()),
        "openBuyQty": s.CharField(),
        "openSellQty": s.CharField(),
        "worstLong": s.CharField(help_text="qty + openBuyQty"),
        "worstShort": s.CharField(help_text="qty - openSellQty"),
        "fillCount": s.IntegerField(help_text="live fills (busted ones left out)"),
        **_STAMPS,
    },
)
BOOK = _serializer(
    "Book",
    {
        "venue": _str(),
        "symbol": _str(),
        "bids": s.ListField(child=s.ListField(child=s.CharField())),
        "asks": s.ListField(child=s.ListField(child=s.CharField())),
        "bestBid": _dec(),
        "bestAsk": _dec(),
        "mid": _dec(),
        "asOf": s.DateTimeField(),
        "stale": s.BooleanField(),
    },
)

RULE_STATE = _serializer(
    "RuleState",
    {
        "ruleId": _str(),
        "name": _str(),
        "priority": s.IntegerField(help_text="lower first"),
        "enabled": s.BooleanField(),
        "when": s.JSONField(help_text="the condition (see CreateRuleCommand)"),
        "action": s.JSONField(help_text='{"handling": "Desk", "reason"} or {"refuse": true, "reason"}'),
        **_STAMPS,
    },
)

DOCUMENT_SCHEMAS.update(
    {
        "instrument": INSTRUMENT_STATE,
        "limit": LIMIT_STATE,
        "refusal": REFUSAL_STATE,
        "venue": VENUE_STATE,
        "control": CONTROL_STATE,
        "cancel_all": CANCEL_ALL_STATE,
        "rule": RULE_STATE,
        "position": POSITION_STATE,
    }
)


class BookQueryView(APIView):
    """GET /api/queries/books/{venue}/{symbol}: bids, asks (best first), bestBid, bestAsk, mid,
    asOf, stale."""

    @extend_schema(responses=BOOK)
    def get(self, request: Request, venue: str, symbol: str) -> Response:
        return Response(book_document(venue, symbol))


PREVIEW = _serializer(
    "OrderPreview",
    {
        "accepted": s.BooleanField(),
        "refusals": s.ListField(child=s.DictField()),
        "routing": s.DictField(),
        "estimate": s.DictField(),
    },
)


def _api_value(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return dec_str(value)
    return value


class OrderPreviewView(APIView):
    """POST /api/commands/orders/preview with a CreateOrderCommand body: parsing (400 as the
    command would answer), the instrument and risk checks, the routing and a cost estimate;
    appends nothing."""

    parser_classes = [CommandJSONParser]

    @extend_schema(request=COMMAND_SERIALIZERS["orders"]["CreateOrderCommand"], responses={200: PREVIEW})
    def post(self, request: Request) -> Response:
        raw = request.data
        unknown = unknown_fields("CreateOrderCommand", raw) if isinstance(raw, Mapping) else []
        if unknown:  # refused as the command bus refuses them
            raise ValidationFailed(
                f"unknown fields for CreateOrderCommand: {', '.join(unknown)}",
                fields={name: ["Unknown field: CreateOrderCommand does not take it."] for name in unknown},
            )
        command = CreateOrderCommand.parse(request.data)
        data = {k: _api_value(v) for k, v in command.by_api_name().items()}
        return Response(preview(data))


BACKTEST = _serializer(
    "RuleBacktest",
    {
        "matched": s.IntegerField(),
        "of": s.IntegerField(help_text="the client orders looked at"),
        "orders": s.ListField(child=s.CharField(), help_text="orderIds matched, newest first"),
    },
)
BACKTEST_REQUEST = _serializer(
    "RuleBacktestRequest",
    {
        "when": s.JSONField(help_text="the condition to test (see CreateRuleCommand)"),
        "action": s.JSONField(required=False),
        "name": _str(),
        "priority": s.IntegerField(required=False),
        "enabled": s.BooleanField(required=False),
        "limit": s.IntegerField(
            required=False,
            min_value=1,
            max_value=MAX_LIMIT,
            help_text=f"the last client orders (default {DEFAULT_LIMIT})",
        ),
    },
)


class RuleBacktestView(APIView):
    """POST /api/commands/rules/backtest with a rule body (not saved): which of the last `limit`
    client orders its condition matches; appends nothing."""

    parser_classes = [CommandJSONParser]

    @extend_schema(request=BACKTEST_REQUEST, responses={200: BACKTEST})
    def post(self, request: Request) -> Response:
        return Response(backtest(request.data, limit_param=request.query_params.get("limit")))
