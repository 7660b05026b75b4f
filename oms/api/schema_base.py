"""What the OpenAPI description's serializers share: field limits, help texts, the status enums
(named in SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]) and the way a serializer is made."""

from __future__ import annotations

from copy import deepcopy
from enum import Enum
from typing import Any

from rest_framework import serializers as s

from executions.enums import ExecStatus
from oms.core.documents import DocField, Document, JsonType
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


def document_serializer(
    document: Document[Any], name: str = "", extra: dict[str, AnyField] | None = None
) -> type[s.Serializer[Any]]:
    """The OpenAPI component of a declared document (`oms.core.documents`): one field per key,
    typed, nullable and described as declared, every key required (the encoder always writes it)."""
    fields = {f.name: _document_field(f) for f in document.fields}
    # copied after the document's fields were made: DRF orders fields by when they were made
    fields.update({key: deepcopy(field) for key, field in (extra or {}).items()})
    serializer = serializer_of(name or document.name, fields)
    if document.description:
        serializer.__doc__ = document.description
    return serializer


_STATES: dict[int, type[s.Serializer[Any]]] = {}


def state_serializer(document: Document[Any]) -> type[s.Serializer[Any]]:
    """The one component of a declared document (every operation that returns it refers to it)."""
    known = _STATES.get(id(document))
    if known is None:
        known = _STATES[id(document)] = document_serializer(document)
    return known


def _scalar(kind: JsonType | None, values: tuple[str, ...] = (), **kw: Any) -> AnyField:
    if values:
        return s.ChoiceField(list(values), **kw)
    if kind is JsonType.DATETIME:
        return s.DateTimeField(**kw)
    if kind is JsonType.INTEGER:
        return s.IntegerField(**kw)
    if kind is JsonType.BOOLEAN:
        return s.BooleanField(**kw)
    if kind is JsonType.OBJECT:
        return s.DictField(**kw)
    if kind in (JsonType.STRING, JsonType.DECIMAL):
        return s.CharField(**kw)
    return s.JSONField(**kw)


def _document_field(f: DocField) -> AnyField:
    kw: dict[str, Any] = {"allow_null": f.nullable}
    if f.help:
        kw["help_text"] = f.help
    if f.kind is JsonType.ENUM:
        return s.ChoiceField(list(f.choices), **kw)
    if f.kind is JsonType.LIST:
        return s.ListField(child=_scalar(f.items, f.values), **kw)
    if f.kind is JsonType.OBJECT and f.items is not None:
        return s.DictField(child=_scalar(f.items), **kw)
    return _scalar(f.kind, f.values, **kw)


def enum_values(enum: type[Enum]) -> list[str]:
    return [str(e.value) for e in enum]


# the status enums by name in the schema (SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"])
ORD_STATUSES = enum_values(OrdStatus)
EXEC_STATUSES = enum_values(ExecStatus)
QUOTE_REQUEST_STATUSES = enum_values(QuoteRequestStatus)
QUOTE_STATUSES = enum_values(QuoteStatus)
INSTRUMENT_KINDS = enum_values(InstrumentKind)
ORDER_KINDS = enum_values(Kind)
