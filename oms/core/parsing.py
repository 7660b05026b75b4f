"""Field parsers for commands: each returns the typed value or records a per-field error.

Commands arrive as JSON. Quantities and prices are plain ASCII decimal strings matching
`-?[0-9]+([.][0-9]+)?` (JSON numbers are still accepted, for clients written before the rule:
an integer, or a float whose shortest form is such a decimal); times are ISO-8601 (UTC assumed
when no offset is given). Identifiers are printable ASCII without spaces (the pattern is a
setting); free text may be any Unicode but control and bidi-override characters. A `Fields`
collects every error so the client sees all of them in one 400 `validation_failed`.

Each command type declares its fields once, next to its parser (`declare_fields`); the command
bus refuses any other field before a handler runs, so nothing undeclared is ever stored.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from enum import Enum
from functools import cache
from typing import Any, TypeVar, overload

from django.conf import settings

from oms.core.errors import ValidationFailed

E = TypeVar("E", bound=Enum)

DECIMAL_PLACES = 10
MAX_INTEGER_DIGITS = 18
# the wire form of a decimal: ASCII digits only (no "1_000", "1e2", " 10 ", "+5", Arabic-Indic
# digits, all of which Python's Decimal() would take)
DECIMAL_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"
_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
# Identifiers by default: printable ASCII without spaces, and without the characters that make a
# value dangerous to echo into HTML or a shell (quotes, backslash, backtick, `&`, `<`, `>`).
DEFAULT_IDENTIFIER_PATTERN = r"[A-Za-z0-9!#$%()*+,./:;=?@\[\]^_{|}~-]+"
# bidi embeddings, overrides and isolates: they reorder what a reader sees (Trojan Source)
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_TEXT_WHITESPACE = frozenset("\t\n\r")

# --- the declared fields of each command type ------------------------------------------------
COMMON_FIELDS = frozenset({"commandType", "expectedVersion"})
_FIELDS: dict[str, frozenset[str]] = {}
_INTERNAL: set[str] = set()


def declare_fields(declarations: Mapping[str, Iterable[str]], *, internal: Iterable[str] = ()) -> None:
    """Declare the fields each command type takes (besides `commandType` and `expectedVersion`).

    `internal` command types are sent by the OMS itself (the lifecycle jobs), never over HTTP.
    """
    for command_type, names in declarations.items():
        _FIELDS[command_type] = COMMON_FIELDS | frozenset(names)
    _INTERNAL.update(internal)


def declared_fields(command_type: str) -> frozenset[str] | None:
    return _FIELDS.get(command_type)


def is_internal(command_type: str) -> bool:
    return command_type in _INTERNAL


def unknown_fields(command_type: str, body: Mapping[str, Any]) -> list[str]:
    allowed = _FIELDS.get(command_type)
    if allowed is None:
        return []
    return sorted(str(k) for k in body if k not in allowed)


@cache
def _identifier_re(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _identifier_pattern() -> re.Pattern[str]:
    return _identifier_re(getattr(settings, "OMS_IDENTIFIER_PATTERN", DEFAULT_IDENTIFIER_PATTERN))


def _char_name(ch: str) -> str:
    return f"U+{ord(ch):04X}" + (f" {unicodedata.name(ch)}" if unicodedata.name(ch, "") else "")


def forbidden_in_identifier(value: str) -> str | None:
    """What is wrong with `value` as an identifier, in words; None when it is fine."""
    for ch in value:
        category = unicodedata.category(ch)
        if ch in _BIDI_CONTROLS:
            return f"Must not contain bidi control characters ({_char_name(ch)})."
        if category == "Cc":
            return f"Must not contain control characters ({_char_name(ch)})."
        if category == "Cf":  # zero-width spaces and joiners, bidi marks, soft hyphen ...
            return f"Must not contain invisible format characters ({_char_name(ch)})."
        if ch.isspace():
            return "Must not contain spaces."
    if not _identifier_pattern().fullmatch(value):
        bad = next((ch for ch in value if not _identifier_pattern().fullmatch(ch)), None)
        if bad is not None and not bad.isascii():
            return f"Must be printable ASCII ({_char_name(bad)} is not)."
        if bad is not None:
            return f"Must not contain '{bad}'."
        return "Not a valid identifier."
    return None


def forbidden_in_text(value: str) -> str | None:
    for ch in value:
        if ch in _BIDI_CONTROLS:
            return f"Must not contain bidi control characters ({_char_name(ch)})."
        if unicodedata.category(ch) == "Cc" and ch not in _TEXT_WHITESPACE:
            return f"Must not contain control characters ({_char_name(ch)})."
    return None


def attributes_problem(value: dict[str, Any]) -> str | None:
    """Why `attributes` is too big (encoded size, keys, nesting); None when within the limits."""
    max_bytes = settings.OMS_ATTRIBUTES_MAX_BYTES
    max_keys = settings.OMS_ATTRIBUTES_MAX_KEYS
    max_depth = settings.OMS_ATTRIBUTES_MAX_DEPTH
    keys = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Iterable[Any] = item.values()
            keys += len(item)
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > max_depth:
            return f"Nested at most {max_depth} levels deep."
        stack.extend((c, depth + 1) for c in children)
    if keys > max_keys:
        return f"At most {max_keys} keys ({keys} given)."
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    if size > max_bytes:
        return f"At most {max_bytes} bytes as JSON ({size} given)."
    return None


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
        """An identifier (clOrdID, orderId, symbol, account, venue ...): `OMS_IDENTIFIER_PATTERN`."""
        value = self.raw.get(name)
        if value is None or value == "":
            if required:
                self.error(name, "This field is required.")
            return None
        if not isinstance(value, str):
            self.error(name, "Must be a string.")
            return None
        if len(value) > max_length:
            self.error(name, f"At most {max_length} characters.")
            return None
        problem = forbidden_in_identifier(value)
        if problem:
            self.error(name, problem)
            return None
        return value

    def text(self, name: str, *, max_length: int = 1000) -> str | None:
        """Free text: any Unicode but control characters (tab and newlines aside) and bidi controls."""
        value = self.raw.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            self.error(name, "Must be a string.")
            return None
        value = value.strip()
        if not value:
            return None
        if len(value) > max_length:
            self.error(name, f"At most {max_length} characters.")
            return None
        problem = forbidden_in_text(value)
        if problem:
            self.error(name, problem)
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
        if isinstance(value, float) and not math.isfinite(value):
            self.error(name, "Must be a finite number.")
            return None
        # a JSON number: its exact integer, or the shortest decimal that reads back as the float
        text = value if isinstance(value, str) else str(value) if isinstance(value, int) else repr(value)
        if isinstance(value, float) and "e" in text:
            text = format(Decimal(text), "f")
        if not _DECIMAL.fullmatch(text):
            shown = text if len(text) <= 40 else text[:40] + "..."
            self.error(
                name,
                f"'{shown}' is not a plain decimal: ASCII digits with an optional '-' and '.', "
                'e.g. "100.25" (no spaces, exponents, underscores or other digits).',
            )
            return None
        try:
            number = Decimal(text)
        except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
            self.error(name, f"'{text}' is not a decimal number.")
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

    def attributes(self, name: str = "attributes") -> dict[str, Any] | None:
        """An object of asset-class specific fields, bounded by the OMS_ATTRIBUTES_* settings."""
        value = self.obj(name)
        if value is None:
            return None
        problem = attributes_problem(value)
        if problem:
            self.error(name, problem)
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
