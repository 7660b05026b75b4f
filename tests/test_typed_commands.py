"""The typed vocabulary: every command is a frozen, typed record parsed once at the edge, and
every handler takes its fields as typed keyword-only arguments."""

from __future__ import annotations

import datetime as dt
import inspect
from decimal import Decimal

import pydantic
import pytest

from oms.core import dispatch as dispatch_module
from oms.core.errors import ValidationFailed
from oms.orders.commands import CreateOrderCommand, ReplaceOrderCommand
from oms.orders.enums import OrdType, Side, TimeInForce

CREATE = {
    "commandType": "CreateOrderCommand",
    "clOrdID": "C-1",
    "symbol": "ACME",
    "side": "Buy",
    "orderQty": "100.50",
    "ordType": "Limit",
    "price": "10.25",
    "timeInForce": "GTD",
    "expireTime": "2026-12-01T10:00:00+01:00",
    "account": "ACC1",
}


def registered() -> list[dispatch_module.Registered]:
    return [r for handlers in dispatch_module._HANDLERS.values() for r in handlers.values()]


# the command types the contract names, per topic (internal commands may come on top)
CONTRACT_COMMANDS = {
    "orders": {
        "CreateOrderCommand",
        "AcceptOrderCommand",
        "RejectOrderCommand",
        "CancelOrderCommand",
        "ConfirmCancelCommand",
        "RejectCancelCommand",
        "ReplaceOrderCommand",
        "ConfirmReplaceCommand",
        "RejectReplaceCommand",
        "DoneForDayCommand",
        "ExpireOrderCommand",
        "RestateOrderCommand",
    },
    "executions": {
        "ExecuteOrderCommand",
        "CorrectExecutionCommand",
        "BustExecutionCommand",
        "AllocateExecutionCommand",
        "RejectExecutionCommand",
    },
    "quote-requests": {"CreateQuoteRequestCommand", "CancelQuoteRequestCommand", "RejectQuoteRequestCommand"},
    "quotes": {"CreateQuoteCommand", "AcceptQuoteCommand", "RejectQuoteCommand", "CancelQuoteCommand"},
    "instruments": {"UpsertInstrumentCommand"},
    "books": {"SetBookCommand"},
    "rules": {"CreateRuleCommand", "UpdateRuleCommand", "EnableRuleCommand", "DisableRuleCommand"},
    "limits": {"SetLimitsCommand"},
    "controls": {
        "EngageSafeModeCommand",
        "ReleaseSafeModeCommand",
        "RequestArmingCommand",
        "ConfirmArmingCommand",
        "DisarmCommand",
        "CancelAllCommand",
    },
    "sim": {"SimSetMarketCommand", "SimSetFaultsCommand", "SimExternalTradeCommand"},
}


def test_every_command_type_is_registered_with_a_class_of_its_name() -> None:
    registered = {topic: set(handlers) for topic, handlers in dispatch_module._HANDLERS.items()}
    for topic, names in CONTRACT_COMMANDS.items():
        assert names <= registered.get(topic, set()), (topic, names - registered.get(topic, set()))
    # the positions' two internal dirty-flag commands (oms/positions/dirty.py)
    assert {"MarkPositionDirtyCommand", "ClearPositionDirtyCommand"} <= registered.get("positions", set())
    for topic, handlers in dispatch_module._HANDLERS.items():
        for name, reg in handlers.items():
            assert reg.command.__name__ == name, (topic, name)
            assert name.endswith("Command"), (topic, name)


def test_every_handler_takes_the_unit_of_work_then_its_commands_fields_by_keyword_only() -> None:
    for reg in registered():
        params = list(inspect.signature(reg.handler).parameters.values())
        assert params[0].name == "uow"
        keyword = {p.name for p in params[1:]}
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params[1:]), reg.handler
        assert keyword == set(reg.command.model_fields), reg.command.__name__


def test_a_parsed_command_is_typed_and_immutable() -> None:
    cmd = CreateOrderCommand.parse(CREATE)
    assert cmd.cl_ord_id == "C-1"
    assert cmd.order_qty == Decimal("100.50") and isinstance(cmd.order_qty, Decimal)
    assert cmd.side is Side.BUY and cmd.ord_type is OrdType.LIMIT and cmd.time_in_force is TimeInForce.GTD
    assert cmd.expire_time == dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
    assert cmd.attributes == {}
    with pytest.raises(pydantic.ValidationError):
        cmd.order_qty = Decimal(1)  # type: ignore[misc]  # the test assigns to a frozen model on purpose


def test_every_bad_field_is_reported_at_once_by_its_api_name_with_the_cross_field_rules() -> None:
    body = {**CREATE, "orderQty": "-1", "side": "Up", "price": None, "expireTime": "soon", "symbol": None}
    with pytest.raises(ValidationFailed) as err:
        CreateOrderCommand.parse(body)
    fields = err.value.fields
    assert fields["orderQty"] == ["Must be greater than zero."]
    assert fields["side"] == ["'Up' is not one of: Buy, Sell, SellShort."]
    assert fields["symbol"] == ["This field is required."]
    assert fields["expireTime"][0] == "Must be an ISO-8601 date-time, e.g. 2026-01-31T14:30:00Z."
    assert fields["price"] == ["Required for Limit and StopLimit orders."]  # a named cross-field rule
    assert "orderQty" in err.value.message


def test_a_replace_must_change_something() -> None:
    with pytest.raises(ValidationFailed) as err:
        ReplaceOrderCommand.parse({"orderId": "O1", "clOrdID": "C-2"})
    assert err.value.fields == {
        "non_field_errors": [
            "Give at least one of orderQty, price, stopPx, timeInForce or expireTime to change."
        ]
    }
    assert ReplaceOrderCommand.parse({"orderId": "O1", "clOrdID": "C-2", "price": "9"}).price == Decimal(9)
