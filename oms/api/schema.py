"""Serializers that document the contract in the OpenAPI schema (/api/schema, /api/docs).

They describe; they do not parse. Commands are parsed by the domain (oms/*/commands.py) and
state is returned as the stored document, so the hot paths pay nothing for DRF serializers.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import PolymorphicProxySerializer
from rest_framework import serializers as s

from executions.actions import EXECUTION_ACTIONS
from oms.orders.actions import ORDER_ACTIONS
from oms.quotes.actions import QUOTE_ACTIONS, REQUEST_ACTIONS

AnyField = s.Field[Any, Any, Any, Any]


def _allowed(actions: tuple[str, ...]) -> s.ListField:
    # plain strings, the values named in the help: four enums of one field name collide in naming
    return s.ListField(
        child=s.CharField(),
        help_text="the desk actions the state machine allows in the current state, among: "
        + ", ".join(actions),
    )


def _serializer(name: str, fields: dict[str, AnyField]) -> type[s.Serializer[Any]]:
    return type(name, (s.Serializer,), dict(fields))


def _dec(required: bool = False) -> s.CharField:
    return s.CharField(required=required, help_text='decimal as a string, e.g. "100.25"')


def _str(required: bool = False) -> s.CharField:
    return s.CharField(required=required)


_COMMANDS: dict[str, dict[str, AnyField]] = {
    "CreateOrderCommand": {
        "clOrdID": _str(True),
        "symbol": _str(),
        "side": s.ChoiceField(["Buy", "Sell", "SellShort"], required=False),
        "orderQty": _dec(True),
        "ordType": s.ChoiceField(["Market", "Limit", "Stop", "StopLimit"], required=False),
        "price": _dec(),
        "stopPx": _dec(),
        "timeInForce": s.ChoiceField(["Day", "GTC", "IOC", "FOK", "GTD"], required=False),
        "expireTime": s.DateTimeField(required=False),
        "account": _str(),
        "venue": _str(),
        "parentId": _str(),
        "handling": s.ChoiceField(["Auto", "Desk"], required=False),
        "text": _str(),
        "attributes": s.DictField(required=False),
    },
    "CancelOrderCommand": {"orderId": _str(True), "clOrdID": _str(True), "text": _str()},
    "ReplaceOrderCommand": {
        "orderId": _str(True),
        "clOrdID": _str(True),
        "orderQty": _dec(),
        "price": _dec(),
        "stopPx": _dec(),
        "timeInForce": _str(),
        "expireTime": s.DateTimeField(required=False),
    },
    **{
        name: {"orderId": _str(True), "text": _str()}
        for name in (
            "AcceptOrderCommand",
            "RejectOrderCommand",
            "ConfirmCancelCommand",
            "RejectCancelCommand",
            "ConfirmReplaceCommand",
            "RejectReplaceCommand",
            "ExpireOrderCommand",
            "DoneForDayCommand",
        )
    },
    "RestateOrderCommand": {"orderId": _str(True), "orderQty": _dec(), "price": _dec(), "text": _str()},
    "ExecuteOrderCommand": {
        "orderId": _str(True),
        "execID": _str(True),
        "lastQty": _dec(True),
        "lastPx": _dec(True),
        "venue": _str(),
        "transactTime": s.DateTimeField(required=False),
        "text": _str(),
    },
    "CorrectExecutionCommand": {
        "executionId": _str(True),
        "lastQty": _dec(),
        "lastPx": _dec(),
        "text": _str(),
    },
    "BustExecutionCommand": {"executionId": _str(True), "text": _str()},
    "AllocateExecutionCommand": {"executionId": _str(True), "orderId": _str(), "text": _str()},
    "RejectExecutionCommand": {"executionId": _str(True), "text": _str()},
    "CreateQuoteRequestCommand": {
        "quoteReqID": _str(True),
        "symbol": _str(True),
        "side": s.ChoiceField(["Buy", "Sell", "SellShort"]),
        "orderQty": _dec(True),
        "account": _str(True),
        "validUntilTime": s.DateTimeField(required=False),
        "text": _str(),
    },
    **{
        name: {"quoteRequestId": _str(True), "text": _str()}
        for name in ("CancelQuoteRequestCommand", "RejectQuoteRequestCommand", "ExpireQuoteRequestCommand")
    },
    "CreateQuoteCommand": {
        "quoteID": _str(True),
        "quoteReqID": _str(True),
        "bidPx": _dec(),
        "offerPx": _dec(),
        "bidSize": _dec(),
        "offerSize": _dec(),
        "validUntilTime": s.DateTimeField(required=False),
        "text": _str(),
    },
    "AcceptQuoteCommand": {
        "quoteId": _str(True),
        "clOrdID": s.CharField(required=False, help_text="the new client order's; generated when absent"),
        "venue": _str(),
        "handling": s.ChoiceField(["Auto", "Desk"], required=False),
        "text": _str(),
    },
    **{
        name: {"quoteId": _str(True), "text": _str()}
        for name in ("RejectQuoteCommand", "CancelQuoteCommand", "ExpireQuoteCommand")
    },
}

_command_serializers = [
    _serializer(
        name,
        {
            "commandType": s.CharField(help_text=name),
            "expectedVersion": s.IntegerField(required=False),
            **fields,
        },
    )
    for name, fields in _COMMANDS.items()
]

COMMAND_REQUEST = PolymorphicProxySerializer(
    component_name="Command",
    serializers=_command_serializers,
    resource_type_field_name="commandType",
)

ORDER_STATE = _serializer(
    "OrderState",
    {
        "orderId": _str(),
        "clOrdID": _str(),
        "origClOrdID": _str(),
        "kind": s.ChoiceField(["Client", "Market", "Slice"]),
        "rootId": _str(),
        "parentId": _str(),
        "symbol": _str(),
        "side": _str(),
        "orderQty": _dec(),
        "ordType": _str(),
        "price": _dec(),
        "stopPx": _dec(),
        "timeInForce": _str(),
        "expireTime": s.DateTimeField(),
        "account": _str(),
        "venue": _str(),
        "status": _str(),
        "cumQty": _dec(),
        "leavesQty": _dec(),
        "avgPx": _dec(),
        "grossTradeAmt": _dec(),
        "allocatedQty": _dec(),
        "placedQty": _dec(),
        "workingChildren": s.IntegerField(),
        "handling": _str(),
        "routingReason": _str(),
        "pending": s.DictField(),
        "pendingCancel": s.DictField(),
        "phase": _str(),
        "version": s.IntegerField(),
        "createdAt": s.DateTimeField(),
        "updatedAt": s.DateTimeField(),
        "text": _str(),
        "attributes": s.DictField(),
        "allowedActions": _allowed(ORDER_ACTIONS),
    },
)

EXECUTION_STATE = _serializer(
    "ExecutionState",
    {
        "executionId": _str(),
        "execID": _str(),
        "orderId": _str(),
        "clientOrderId": _str(),
        "lastQty": _dec(),
        "lastPx": _dec(),
        "venue": _str(),
        "status": _str(),
        "reviewReasons": s.ListField(child=s.CharField()),
        "reviewDetails": s.DictField(),
        "overriddenReasons": s.ListField(child=s.CharField()),
        "text": _str(),
        "version": s.IntegerField(),
        "transactTime": s.DateTimeField(),
        "createdAt": s.DateTimeField(),
        "updatedAt": s.DateTimeField(),
        "allowedActions": _allowed(EXECUTION_ACTIONS),
    },
)

QUOTE_REQUEST_STATE = _serializer(
    "QuoteRequestState",
    {
        "quoteRequestId": _str(),
        "quoteReqID": _str(),
        "symbol": _str(),
        "side": _str(),
        "orderQty": _dec(),
        "account": _str(),
        "validUntilTime": s.DateTimeField(),
        "status": s.ChoiceField(["Open", "Quoted", "Accepted", "Canceled", "Rejected", "Expired"]),
        "allowedActions": _allowed(REQUEST_ACTIONS),
        "quoteIds": s.ListField(child=s.CharField()),
        "acceptedQuoteId": _str(),
        "orderId": _str(),
        "text": _str(),
        "version": s.IntegerField(),
        "createdAt": s.DateTimeField(),
        "updatedAt": s.DateTimeField(),
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
        "side": _str(),
        "account": _str(),
        "bidPx": _dec(),
        "offerPx": _dec(),
        "bidSize": _dec(),
        "offerSize": _dec(),
        "validUntilTime": s.DateTimeField(),
        "status": s.ChoiceField(["Active", "Accepted", "Rejected", "Canceled", "Expired"]),
        "allowedActions": _allowed(QUOTE_ACTIONS),
        "orderId": _str(),
        "orderClOrdID": _str(),
        "acceptedPx": _dec(),
        "acceptedQty": _dec(),
        "text": _str(),
        "version": s.IntegerField(),
        "createdAt": s.DateTimeField(),
        "updatedAt": s.DateTimeField(),
    },
)

EVENT = _serializer(
    "Event",
    {
        "seq": s.IntegerField(),
        "topic": _str(),
        "type": _str(),
        "aggregateId": _str(),
        "version": s.IntegerField(),
        "data": s.DictField(),
        "command": s.DictField(),
        "state": s.DictField(),
        "actor": _str(),
        "correlationId": _str(),
        "occurredAt": s.DateTimeField(),
        "recordedAt": s.DateTimeField(),
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


EVENT_PAGE = _page("EventPage", EVENT)  # the event feed pages by afterSeq (lists use the paginator's)

ORDER_TREE = _serializer(
    "OrderTree",
    {
        **ORDER_STATE._declared_fields,
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
