"""Field parsers for commands: each returns the typed value or records a per-field error.

Commands arrive as JSON. Quantities and prices are decimal strings (numbers are accepted too);
times are ISO-8601 (UTC assumed when no offset is given). A `Fields` collects every error so the
client sees all of them in one 400 `validation_failed`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any, TypeVar, overload

from oms.core.errors import ValidationFailed

E = TypeVar("E", bound=Enum)

DECIMAL_PLACES = 10
MAX_INTEGER_DIGITS = 18


class Fields:
    def __init__(self, raw: Mapping[str, Any]):
        if not isinstance(raw, Mapping):
            raise ValidationFailed(
                "the command must be a JSON object", fields={"non_field_errors": ["expected an object"]}
            )
        self.raw = raw
        self.errors: dict[str, list[str]] = {}

    def error(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)

    def present(self, name: str) -> bool:
        return self.raw.get(name) is not None

    def string(self, name: str, *, required: bool = False, max_length: int = 64) -> str | None:
        value = self.raw.get(name)
        if value is None or (isinstance(value, str) and value.strip() == ""):
            if required:
                self.error(name, "This field is required.")
            return None
        if not isinstance(value, str):
            self.error(name, "Must be a string.")
            return None
        value = value.strip()
        if len(value) > max_length:
            self.error(name, f"At most {max_length} characters.")
            return None
        return value

    def decimal(
        self, name: str, *, required: bool = False, positive: bool = False, non_negative: bool = False
    ) -> Decimal | None:
        value = self.raw.get(name)
        if value is None or value == "":
            if required:
                self.error(name, "This field is required.")
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.error(name, 'Must be a decimal number as a string, e.g. "100.25".')
            return None
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            self.error(name, f"'{value}' is not a decimal number.")
            return None
        if not number.is_finite():
            self.error(name, "Must be a finite number.")
            return None
        _sign, digits, exponent = number.as_tuple()
        assert isinstance(exponent, int)
        if -exponent > DECIMAL_PLACES:
            self.error(name, f"At most {DECIMAL_PLACES} decimal places.")
            return None
        if len(digits) + exponent > MAX_INTEGER_DIGITS:
            self.error(name, "Too large.")
            return None
        if positive and number <= 0:
            self.error(name, "Must be greater than zero.")
            return None
        if non_negative and number < 0:
            self.error(name, "Must not be negative.")
            return None
        return number

    def choice(self, name: str, enum: type[E], *, required: bool = False) -> E | None:
        value = self.raw.get(name)
        if value is None or value == "":
            if required:
                self.error(name, "This field is required.")
            return None
        try:
            return enum(value)
        except ValueError:
            allowed = ", ".join(e.value for e in enum)
            self.error(name, f"'{value}' is not one of: {allowed}.")
            return None

    def datetime(self, name: str, *, required: bool = False) -> dt.datetime | None:
        value = self.raw.get(name)
        if value is None or value == "":
            if required:
                self.error(name, "This field is required.")
            return None
        parsed = _parse_iso(value) if isinstance(value, str) else None
        if parsed is None:
            self.error(name, "Must be an ISO-8601 date-time, e.g. 2026-01-31T14:30:00Z.")
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        try:
            return parsed.astimezone(dt.UTC)
        except OverflowError:  # year 1 or 9999 shifted out of range by its offset
            self.error(name, "Date-time out of range.")
            return None

    def integer(self, name: str, *, required: bool = False, minimum: int | None = None) -> int | None:
        value = self.raw.get(name)
        if value is None:
            if required:
                self.error(name, "This field is required.")
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(name, "Must be an integer.")
            return None
        if minimum is not None and value < minimum:
            self.error(name, f"Must be at least {minimum}.")
            return None
        return int(value)  # raw JSON is Any: an int, checked above

    def obj(self, name: str) -> dict[str, Any] | None:
        value = self.raw.get(name)
        if value is None:
            return None
        if not isinstance(value, dict):
            self.error(name, "Must be a JSON object.")
            return None
        return value

    def raise_if_errors(self, message: str = "invalid command") -> None:
        if self.errors:
            raise ValidationFailed(f"{message}: {', '.join(sorted(self.errors))}", fields=self.errors)


@overload
def dec_str(value: Decimal) -> str: ...
@overload
def dec_str(value: Decimal | None) -> str | None: ...
def dec_str(value: Decimal | None) -> str | None:
    """Canonical decimal string: no exponent, no trailing zeros ("100", "100.25")."""
    if value is None:
        return None
    if value == 0:
        return "0"
    text = format(value.normalize(), "f")
    return text


def to_dec(value: object) -> Decimal | None:
    if value is None:
        return None
    return Decimal(str(value))


def iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


@overload
def from_iso(value: str) -> dt.datetime: ...
@overload
def from_iso(value: None) -> None: ...
@overload
def from_iso(value: str | None) -> dt.datetime | None: ...
def from_iso(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    parsed = _parse_iso(value)
    assert parsed is not None, value
    return parsed


def _parse_iso(value: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        return None
