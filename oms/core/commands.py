"""Typed commands: each command of the contract is a frozen pydantic model, its fields its schema.

    class CancelOrderCommand(Command):
        order_id: Id = Field(alias="orderId")
        cl_ord_id: Id = Field(alias="clOrdID")

    cmd = CancelOrderCommand.parse(body)      # API JSON -> typed command, or one 400 listing every field
    order_cancel(uow, **cmd.arguments())      # handlers take typed keyword-only arguments

The field types below carry the field rules of `oms.core.parsing.Fields` (required, blanks,
decimal syntax and range, enums, UTC date-times) with their messages, so a command parsed here
answers exactly as the hand-written parsers did. Cross-field rules (a Limit order needs a price)
stay named predicates of the validation engine: a command class lists its `rules`, which see the
fields that parsed (by their API names) and report with the field errors in the same 400.

The class name is the contract's `commandType`; dispatch finds a command's handler by it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from decimal import Decimal
from enum import Enum
from functools import cache
from typing import Annotated, Any, ClassVar, Self, TypeVar

import pydantic
from pydantic import BeforeValidator, ConfigDict, TypeAdapter
from pydantic.fields import FieldInfo

from oms.core.errors import ValidationFailed
from oms.core.parsing import COMMON_FIELDS, Fields, declare_fields
from oms.core.validation import Validator

ID_MAX = 64
TEXT_MAX = 1000

_REQUIRED = "This field is required."


class _One(Fields):
    """`Fields` over one value (no mapping check: the value is whatever the client sent)."""

    def __init__(self, value: Any):
        self.raw = {"value": value}
        self.errors = {}


def _rule(method: str, **options: Any) -> BeforeValidator:
    """A pydantic before-validator running one `Fields` parser on one value (its rules, its message)."""
    parse = getattr(_One, method)

    def validate(value: Any) -> Any:
        f = _One(value)
        parsed = parse(f, "value", **options)
        if f.errors:
            raise ValueError(f.errors["value"][0])
        return parsed

    return BeforeValidator(validate)


# identifiers and symbols (required / optional), free text
Id = Annotated[str, _rule("string", required=True, max_length=ID_MAX)]
OptId = Annotated[str | None, _rule("string", max_length=ID_MAX)]
# an identifier qualified by another (a symbol at one venue: "VENUE:SYMBOL")
OptQualifiedId = Annotated[str | None, _rule("string", max_length=2 * ID_MAX + 1)]
Text = Annotated[str | None, _rule("text", max_length=TEXT_MAX)]
# decimals: quantities and prices, strictly positive (required / optional), or any sign
Qty = Annotated[Decimal, _rule("decimal", required=True, positive=True)]
OptQty = Annotated[Decimal | None, _rule("decimal", positive=True)]
AnyDecimal = Annotated[Decimal, _rule("decimal", required=True)]
OptDateTime = Annotated[dt.datetime | None, _rule("datetime")]
Version = Annotated[int | None, _rule("integer", minimum=0)]


E = TypeVar("E", bound=Enum)


def _attributes(value: Any) -> dict[str, Any]:
    f = _One(value)
    parsed = f.attributes("value")
    if f.errors:
        raise ValueError(f.errors["value"][0])
    return parsed or {}


# free-form client attributes: a JSON object, {} when absent
Attributes = Annotated[dict[str, Any], BeforeValidator(_attributes)]


def choice(enum: type[E], *, required: bool = False) -> Any:
    """An enum field: the API's value, refused with the list of allowed values."""
    if required:
        return Annotated[enum, _rule("choice", enum=enum, required=True)]
    return Annotated[enum | None, _rule("choice", enum=enum)]


class Command(pydantic.BaseModel):
    """A command: immutable, typed, parsed once at the edge (API, form, admin, task, dispatch)."""

    # unknown fields (commandType, and whatever a client adds) are not part of the command
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    # cross-field rules, run on the fields that parsed (API names -> typed values)
    rules: ClassVar[Validator | None] = None
    # sent by the OMS itself (the lifecycle jobs), never accepted over HTTP
    internal: ClassVar[bool] = False

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        """Every command declares its fields (their API names) to the command bus, which refuses
        any other field before a handler runs: the model is the one declaration."""
        super().__pydantic_init_subclass__(**kwargs)
        _CLASSES[cls.__name__] = cls
        declare_fields({cls.__name__: cls.api_fields()}, internal=[cls.__name__] if cls.internal else [])

    @classmethod
    def api_fields(cls) -> tuple[str, ...]:
        """The fields a client may send (besides commandType and expectedVersion), by API name."""
        return tuple(name for _, name in _api_names(cls) if name not in COMMON_FIELDS)

    @classmethod
    def command_type(cls) -> str:
        return cls.__name__

    @classmethod
    def parse(cls, raw: Any) -> Self:
        if not isinstance(raw, Mapping):
            raise ValidationFailed(
                "the command must be a JSON object", fields={"non_field_errors": ["expected an object"]}
            )
        try:
            cmd = cls.model_validate(raw)
        except pydantic.ValidationError as exc:
            errors = field_errors(exc)
            errors = cls.check(_partial(cls, raw, errors), errors)
            raise ValidationFailed(
                f"invalid {cls.command_type()}: {', '.join(sorted(errors))}", fields=errors
            ) from None
        if cls.rules is None and cls.check.__func__ is Command.check.__func__:  # type: ignore[attr-defined]  # a bound classmethod has __func__; mypy types it as a plain callable
            return cmd  # no cross-field rules
        errors = cls.check(cmd.by_api_name(), {})
        if errors:
            raise ValidationFailed(
                f"invalid {cls.command_type()}: {', '.join(sorted(errors))}", fields=errors
            )
        return cmd

    @classmethod
    def check(cls, values: Mapping[str, Any], errors: dict[str, list[str]]) -> dict[str, list[str]]:
        """Cross-field rules: extend `errors` (already has the field errors) and return it."""
        if cls.rules is None:
            return errors
        return cls.rules.errors(values, errors)

    @classmethod
    def api_field(cls, api_name: str) -> FieldInfo:
        """The pydantic field a client sends as `api_name` (its type, whether it is required)."""
        return next(info for name, info in cls.model_fields.items() if (info.alias or name) == api_name)

    def by_api_name(self) -> dict[str, Any]:
        values = self.__dict__
        return {api: values[name] for name, api in _api_names(type(self))}

    def arguments(self) -> dict[str, Any]:
        """The handler's keyword arguments: the typed fields by their Python names."""
        return dict(self.__dict__)


_CLASSES: dict[str, type[Command]] = {}


def command_class(command_type: str) -> type[Command]:
    """The command model of a commandType (every `Command` subclass, by its class name)."""
    return _CLASSES[command_type]


@cache
def _api_names(cls: type[Command]) -> tuple[tuple[str, str], ...]:
    return tuple((name, info.alias or name) for name, info in cls.model_fields.items())


@cache
def _field_adapters(cls: type[Command]) -> dict[str, tuple[TypeAdapter[Any], bool]]:
    """One validator per field (by API name), for reading the fields that parsed of a bad command."""
    out = {}
    for name, info in cls.model_fields.items():
        # a field's annotation (None only for a field without one, which a model never declares)
        annotated: Any = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        out[info.alias or name] = (TypeAdapter(annotated), info.is_required())
    return out


def _partial(cls: type[Command], raw: Mapping[str, Any], errors: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for api_name, (adapter, _required) in _field_adapters(cls).items():
        if api_name in errors or raw.get(api_name) is None:
            values[api_name] = None
            continue
        try:
            values[api_name] = adapter.validate_python(raw[api_name])
        except pydantic.ValidationError:
            values[api_name] = None
    return values


def field_errors(exc: pydantic.ValidationError) -> dict[str, list[str]]:
    """pydantic's errors in the contract's shape: {field (API name): [message, ...]}."""
    errors: dict[str, list[str]] = {}
    for err in exc.errors(include_url=False):
        loc = err["loc"]
        name = str(loc[0]) if loc else "non_field_errors"
        errors.setdefault(name, []).append(_message(err))
    return errors


_MESSAGES: dict[str, Callable[[Any], str]] = {
    "missing": lambda err: _REQUIRED,
    "string_type": lambda err: "Must be a string.",
    "int_type": lambda err: "Must be an integer.",
    "int_parsing": lambda err: "Must be an integer.",
    "bool_type": lambda err: "Must be true or false.",
    "dict_type": lambda err: "Must be a JSON object.",
    "extra_forbidden": lambda err: "Unknown field.",
}


def _message(err: Any) -> str:
    if err["type"] == "value_error":
        return str(err["ctx"]["error"])
    make = _MESSAGES.get(err["type"])
    return make(err) if make else str(err["msg"])


def fields_of(*commands: type[Command]) -> dict[str, tuple[str, ...]]:
    """commandType -> the fields it takes, for the OpenAPI description of a topic's commands."""
    return {c.command_type(): c.api_fields() for c in commands}
