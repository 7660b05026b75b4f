"""What crosses the adapter boundary, as JSON and back, exactly.

A recorded answer must come back as the very record the original code saw: `Decimal`s from their
strings (never through a float), times with their microseconds and zone, enums as enum members
(the OMS compares statuses by identity), a venue error as the same class with the same message.
Records are written with their type name and field names as the dataclass has them, so a line of
a session file reads like the record it holds.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import types
import typing
from decimal import Decimal
from functools import cache
from typing import Any

from oms.venues import adapter as boundary

RECORDS: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        boundary.PlaceRequest,
        boundary.CancelRequest,
        boundary.ReplaceRequest,
        boundary.VenueOrderReport,
        boundary.VenueFill,
        boundary.VenuePosition,
        boundary.VenueBalance,
        boundary.VenueBook,
        boundary.VenueInstrument,
    )
}
ERRORS: dict[str, type[boundary.VenueError]] = {
    cls.__name__: cls
    for cls in (
        boundary.VenueError,
        boundary.TransientVenueError,
        boundary.RateLimited,
        boundary.VenueRejected,
        boundary.OrderNotFound,
        boundary.UnknownOutcome,
        boundary.NotSupported,
    )
}


class CodecError(ValueError):
    """A recorded value that is not what the boundary can carry (a garbled or foreign file)."""


def encode(value: Any) -> Any:
    """A record, a list of records, or a plain value, as JSON-ready data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {"type": type(value).__name__}
        for f in dataclasses.fields(value):
            out[f.name] = encode(getattr(value, f.name))
        return out
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    return value


def decode(data: Any) -> Any:
    """The inverse of `encode` for the boundary's records (a dict with a known `type`)."""
    if isinstance(data, list):
        return [decode(v) for v in data]
    if not isinstance(data, dict) or "type" not in data:
        return data
    cls = RECORDS.get(str(data["type"]))
    if cls is None:
        raise CodecError(f"unknown record type {data['type']!r}")
    hints = _hints(cls.__name__)
    values = {}
    try:
        for f in dataclasses.fields(cls):
            if f.name in data:
                values[f.name] = _field(hints[f.name], data[f.name])
        return cls(**values)
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise CodecError(f"{data['type']}: {exc}") from None


def encode_error(exc: boundary.VenueError) -> dict[str, Any]:
    out: dict[str, Any] = {"type": type(exc).__name__, "venue": exc.venue, "message": exc.message}
    if isinstance(exc, boundary.RateLimited):
        out["retryAfter"] = exc.retry_after
    return out


def decode_error(data: Any) -> boundary.VenueError:
    cls = ERRORS.get(str(data.get("type"))) if isinstance(data, dict) else None
    if cls is None or not isinstance(data.get("venue"), str) or not isinstance(data.get("message"), str):
        raise CodecError(f"not a venue error: {data!r:.200}")
    if cls is boundary.RateLimited:
        return boundary.RateLimited(data["venue"], data["message"], float(data.get("retryAfter", 1.0)))
    return cls(data["venue"], data["message"])


@cache
def _hints(name: str) -> dict[str, Any]:
    return typing.get_type_hints(RECORDS[name])


def _field(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
        origin = typing.get_origin(hint)
    if hint is Decimal:
        if not isinstance(value, str):
            raise ValueError(f"a decimal is written as a string, not {value!r}")
        return Decimal(value)
    if hint is dt.datetime:
        parsed = dt.datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise ValueError(f"a time without its zone: {value!r}")
        return parsed
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint(value)
    if origin is tuple:  # a book side: ((px, qty), ...)
        return tuple(tuple(Decimal(x) for x in level) for level in value)
    return value
