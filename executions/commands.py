"""The execution commands of the contract as typed, immutable records (pure: no database)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field

from oms.core.commands import AnyDecimal, Command, Id, OptDateTime, OptId, OptQty, Text, Version, fields_of


class ExecuteOrderCommand(Command):
    """A venue's execution report (FIX ExecutionReport, ExecType F) for a market order or slice."""

    order_id: Id = Field(alias="orderId")
    exec_id: Id = Field(alias="execID")  # FIX 17
    # non-positive quantities and prices parse: they are review reasons, not malformed input
    last_qty: AnyDecimal = Field(alias="lastQty")  # FIX 32
    last_px: AnyDecimal = Field(alias="lastPx")  # FIX 31
    venue: OptId = None
    transact_time: OptDateTime = Field(None, alias="transactTime")  # FIX 60
    text: Text = None


class ExecutionCommand(Command):
    """A command on an existing execution: its id, the version the client saw (optional), a text."""

    execution_id: Id = Field(alias="executionId")
    expected_version: Version = Field(None, alias="expectedVersion")
    text: Text = None


class CorrectExecutionCommand(ExecutionCommand):
    """TradeCorrect (FIX ExecType G): a new lastQty and/or lastPx."""

    last_qty: OptQty = Field(None, alias="lastQty")
    last_px: OptQty = Field(None, alias="lastPx")

    @classmethod
    def check(cls, values: Mapping[str, Any], errors: dict[str, list[str]]) -> dict[str, list[str]]:
        if not errors and values.get("lastQty") is None and values.get("lastPx") is None:
            errors["non_field_errors"] = ["Give lastQty and/or lastPx."]
        return errors


class BustExecutionCommand(ExecutionCommand):
    """TradeCancel (FIX ExecType H)."""


class AllocateExecutionCommand(ExecutionCommand):
    """The desk applies a held execution, to its own order or to another `orderId`."""

    order_id: OptId = Field(None, alias="orderId")


class RejectExecutionCommand(ExecutionCommand):
    """The desk discards a held execution."""


# commandType -> its fields (the OpenAPI description of the topic)
FIELDS = fields_of(
    ExecuteOrderCommand,
    CorrectExecutionCommand,
    BustExecutionCommand,
    AllocateExecutionCommand,
    RejectExecutionCommand,
)
