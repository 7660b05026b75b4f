"""Typed events: each event type a frozen pydantic model whose fields are its schema.

    tree.emit(order, OrderFilled(execution_id=..., exec_id=..., last_qty=qty, last_px=px))

A handler builds the event from typed values (`Decimal`, enums, UTC date-times); the unit of work
encodes it once into the event's stored data (`to_data`: decimals as canonical strings, enums as
their values, times as ISO-8601 UTC, the contract's field names), and `from_data` reads stored
data back into the typed record. The class name is the event type.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import Enum
from functools import cache
from typing import Any, ClassVar, Self

import pydantic
from pydantic import ConfigDict

from oms.core.parsing import dec_str, iso


class Event(pydantic.BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid")

    # optional fields are left out of the stored data when None, but for these (python names)
    keep_none: ClassVar[frozenset[str]] = frozenset()
    # the event type when it is not the class name (one type recorded with two shapes)
    type_name: ClassVar[str] = ""

    @classmethod
    def event_type(cls) -> str:
        return cls.type_name or cls.__name__

    def to_data(self) -> dict[str, Any]:
        """The event's stored data (JSON-ready), by the contract's field names."""
        values = self.__dict__
        out: dict[str, Any] = {}
        keep = self.keep_none
        for name, api_name in _api_names(type(self)):
            value = values[name]
            if value is None and name not in keep:
                continue
            out[api_name] = encode(value)
        return out

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Self:
        return cls.model_validate(data)


def encode(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return dec_str(value)
    if isinstance(value, dt.datetime):
        return iso(value)
    return value


@cache
def _api_names(cls: type[Event]) -> tuple[tuple[str, str], ...]:
    return tuple((name, info.alias or name) for name, info in cls.model_fields.items())
