"""What the OpenAPI description's serializers share: field limits, help texts, the status enums
(named in SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]) and the way a serializer is made."""

from __future__ import annotations

from enum import Enum
from typing import Any

from rest_framework import serializers as s

from executions.enums import ExecStatus
from oms.orders.enums import Kind, OrdStatus
from oms.quotes.enums import QuoteRequestStatus, QuoteStatus
from rules.enums import InstrumentKind

AnyField = s.Field[Any, Any, Any, Any]

ID_MAX = 64
TEXT_MAX = 1000
ID_HELP = "an identifier: printable ASCII without spaces, quotes, backslash, backtick, & < > (OMS_IDENTIFIER_PATTERN)"
DEC_HELP = (
    'a decimal as a plain ASCII string, e.g. "100.25": at most 18 integer digits and 10 decimals '
    "(a JSON number is accepted too, for older clients; send strings)"
)


def serializer_of(name: str, fields: dict[str, AnyField]) -> type[s.Serializer[Any]]:
    return type(name, (s.Serializer,), dict(fields))


def enum_values(enum: type[Enum]) -> list[str]:
    return [str(e.value) for e in enum]


# the status enums by name in the schema (SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"])
ORD_STATUSES = enum_values(OrdStatus)
EXEC_STATUSES = enum_values(ExecStatus)
QUOTE_REQUEST_STATUSES = enum_values(QuoteRequestStatus)
QUOTE_STATUSES = enum_values(QuoteStatus)
INSTRUMENT_KINDS = enum_values(InstrumentKind)
ORDER_KINDS = enum_values(Kind)
