"""The trading controls' part of the API beside the generated query views (whose documents each
aggregate declares once: `oms.core.documents`): the book query (books are current state, not
events), the order preview and the rule backtest."""

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
