"""The API document of an aggregate, declared once: its fields in the contract's order, each with
its JSON type, nullability, enum values and help text.

From one declaration come
- the encoder (`Document.encode(state) -> dict`: what the API, the feed's `state` and the state
  row's `doc` carry) and the decoder (`Document.decode(doc) -> dict` of the state's keyword
  arguments), both generated once as plain Python source (a dict literal: as fast as the
  hand-written functions they replaced, measured in `bench/documents.py`);
- the OpenAPI component schema (the API package turns `Document.fields` into a serializer:
  `oms.api.schema_base.document_serializer`), so the schema cannot disagree with the encoder;
- the state row's writer (`Document.row_writer(columns)`: each column of the state table from the
  declared field of the same attribute, enum members as their values), generated the same way;
  the event store builds it from the state model's columns (`AggregateType.to_row`).

A dataclass state declares its fields with the helpers below (`string`, `decimal`, `when`,
`choice`, ...). A pydantic `Record` (the definition aggregates of `rules/`, reconciliation) is
already its own codec: `record_document` reads the same declaration from the model's fields.
"""

from __future__ import annotations

import datetime as dt
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import Enum, StrEnum
from typing import Any, Generic, TypeVar

import pydantic

from oms.core.parsing import dec_str, from_iso, iso, to_dec

S = TypeVar("S")
T = TypeVar("T")


class JsonType(StrEnum):
    """How a field is written in the document."""

    STRING = "string"
    DECIMAL = "decimal"  # a Decimal, written as its canonical string ("100.25")
    DATETIME = "datetime"  # an aware datetime, written as ISO-8601 UTC ("...Z")
    INTEGER = "integer"
    BOOLEAN = "boolean"
    ENUM = "enum"  # an Enum member, written as its value (or a plain string of `values`)
    OBJECT = "object"  # a JSON object; `items` types its values when they are all alike
    LIST = "list"  # a JSON array of `items`
    JSON = "json"  # any JSON value


@dataclass(frozen=True)
class DocField:
    """One key of a document."""

    name: str  # the contract's name (`clOrdID`)
    kind: JsonType
    nullable: bool = False
    help: str = ""
    attr: str = ""  # the state's attribute (default: `name` in snake_case)
    enum: type[Enum] | None = None  # JsonType.ENUM: the values; the attribute holds members
    plain: bool = False  # JsonType.ENUM: the attribute holds the value string, not a member
    values: tuple[str, ...] = ()  # the allowed strings of a STRING field or a LIST's items
    items: JsonType | None = None  # LIST: the items' type; OBJECT: the values' type
    # encoded from the state by this function instead of from the attribute
    compute: Callable[[Any], Any] | None = None
    derived: bool = False  # written, never read back: the state recomputes it
    decode: Callable[[Mapping[str, Any]], Any] | None = None  # read back by this function
    read_time: bool = False  # added when read (`ReadSide.present`), not stored nor encoded

    @property
    def attribute(self) -> str:
        return self.attr or snake(self.name)

    @property
    def choices(self) -> tuple[str, ...]:
        if self.enum is not None:
            return tuple(str(e.value) for e in self.enum)
        return self.values


_WORD = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def snake(name: str) -> str:
    """`clOrdID` -> `cl_ord_id`, `avgPx` -> `avg_px`."""
    return _WORD.sub("_", name).lower()


def _f(name: str, kind: JsonType, **kw: Any) -> DocField:
    null = kw.pop("null", False)
    return DocField(name, kind, nullable=null, **kw)


# --- what a declaration is written with ------------------------------------------------------------


def string(name: str, **kw: Any) -> DocField:
    return _f(name, JsonType.STRING, **kw)


_DEC_HELP = 'decimal as a string, e.g. "100.25"'


def decimal(name: str, **kw: Any) -> DocField:
    kw.setdefault("help", _DEC_HELP)
    return _f(name, JsonType.DECIMAL, **kw)


def when(name: str, **kw: Any) -> DocField:
    return _f(name, JsonType.DATETIME, **kw)


def integer(name: str, **kw: Any) -> DocField:
    return _f(name, JsonType.INTEGER, **kw)


def boolean(name: str, **kw: Any) -> DocField:
    return _f(name, JsonType.BOOLEAN, **kw)


def choice(name: str, enum: type[Enum], **kw: Any) -> DocField:
    return _f(name, JsonType.ENUM, enum=enum, **kw)


def obj(name: str, **kw: Any) -> DocField:
    return _f(name, JsonType.OBJECT, **kw)


def strings(name: str, **kw: Any) -> DocField:
    return _f(name, JsonType.LIST, items=JsonType.STRING, **kw)


def objects(name: str, **kw: Any) -> DocField:
    return _f(name, JsonType.LIST, items=JsonType.OBJECT, **kw)


def allowed_actions(compute: Callable[[Any], list[str]], actions: tuple[str, ...]) -> DocField:
    """`allowedActions`: the desk actions the state machine allows now (plain strings: several
    aggregates' actions would collide as one enum name in the schema)."""
    return strings(
        "allowedActions",
        compute=compute,
        help="the desk actions the state machine allows in the current state, among: " + ", ".join(actions),
    )


def stamps() -> tuple[DocField, ...]:
    """`version`, `createdAt`, `updatedAt`: every document ends with them."""
    return (integer("version"), when("createdAt"), when("updatedAt"))


# --- the generated codec ---------------------------------------------------------------------------


def _encode_expr(f: DocField, i: int, env: dict[str, Any]) -> str:
    a = f"s.{f.attribute}"
    if f.compute is not None:
        env[f"_compute{i}"] = f.compute
        return f"_compute{i}(s)"
    if f.kind is JsonType.DECIMAL:
        return f"dec_str({a})"
    if f.kind is JsonType.DATETIME:
        return f"iso({a})"
    if f.kind is JsonType.ENUM and not f.plain:
        return f"(None if {a} is None else {a}.value)" if f.nullable else f"{a}.value"
    if f.kind is JsonType.LIST:
        return f"list({a})"  # the document never shares a list with the state
    return a


def _decode_expr(f: DocField, i: int, env: dict[str, Any]) -> str:
    if f.decode is not None:
        env[f"_decode{i}"] = f.decode
        return f"_decode{i}(d)"
    get = f"d.get({f.name!r})" if f.nullable else f"d[{f.name!r}]"
    if f.kind is JsonType.DECIMAL:
        return f"to_dec({get})" if f.nullable else f"Decimal({get})"
    if f.kind is JsonType.DATETIME:
        return f"from_iso({get})"
    if f.kind is JsonType.ENUM and not f.plain:
        env[f"_enum{i}"] = f.enum
        return f"(None if {get} is None else _enum{i}({get}))" if f.nullable else f"_enum{i}({get})"
    if f.kind is JsonType.LIST:
        return f"list(d.get({f.name!r}) or [])"
    return get


def _compile(name: str, fn: str, arg: str, body: str, env: dict[str, Any]) -> Callable[..., Any]:
    source = f"def {fn}({arg}):\n    return {body}\n"
    namespace = {
        "dec_str": dec_str,
        "iso": iso,
        "to_dec": to_dec,
        "from_iso": from_iso,
        "Decimal": Decimal,
        **env,
    }
    # the source names only declared attributes (checked to be identifiers) and repr()'d keys
    exec(compile(source, f"<document {name}.{fn}>", "exec"), namespace)
    return typing.cast(Callable[..., Any], namespace[fn])


def _lines(items: Iterable[str], close: str) -> str:
    return "".join(f"\n        {item}," for item in items) + f"\n    {close}"


@dataclass(frozen=True)
class Column:
    """One column of a state table, as the row writer needs it."""

    name: str  # the model field's attribute name
    null: bool  # the column takes NULL
    text: bool  # a text column (a missing string is stored as "")


@dataclass(frozen=True)
class Document(Generic[S]):
    """The declared document of one aggregate (`name` is its OpenAPI component: "OrderState")."""

    name: str
    fields: tuple[DocField, ...]
    description: str = ""
    # a pydantic Record encodes itself (`Record.to_api`): then no encoder is generated
    encoder: Callable[[S], dict[str, Any]] | None = None
    encode: Callable[[S], dict[str, Any]] = field(init=False, repr=False, compare=False)
    decode: Callable[[Mapping[str, Any]], dict[str, Any]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: a field is declared twice")
        for f in self.fields:
            if not f.attribute.isidentifier():
                raise ValueError(f"{self.name}.{f.name}: {f.attribute!r} is not an attribute name")
        env: dict[str, Any] = {}
        body = (
            f"{f.name!r}: {_encode_expr(f, i, env)}" for i, f in enumerate(self.fields) if not f.read_time
        )
        encode = self.encoder or _compile(self.name, "encode", "s", "{" + _lines(body, "}"), env)
        object.__setattr__(self, "encode", encode)
        object.__setattr__(self, "decode", self.decoder(dict))

    def decoder(self, make: Callable[..., T]) -> Callable[[Mapping[str, Any]], T]:
        """A decoder that calls `make` (the state's class) with the stored fields as keyword
        arguments: computed and derived fields are not read back (the state derives them)."""
        env: dict[str, Any] = {"_make": make}
        read_back = [
            f for f in self.fields if not f.read_time and ((f.compute is None and not f.derived) or f.decode)
        ]
        body = (f"{f.attribute}={_decode_expr(f, i, env)}" for i, f in enumerate(read_back))
        return _compile(self.name, "decode", "d", "_make(" + _lines(body, ")"), env)

    def row_writer(
        self, columns: Sequence[Column], computed: Mapping[str, Callable[[S], Any]] | None = None
    ) -> Callable[[S, dict[str, Any]], dict[str, Any]]:
        """`to_row(state, doc) -> {column: value}` for a state table: `doc` is the encoded
        document; every other column is the declared field of the same attribute (an enum member
        stored as its value; a nullable string in a NOT NULL text column as ""), or one of
        `computed` (a column the document does not carry). A column with neither is an error
        here, at registration, not a KeyError on the first write."""
        computed = dict(computed or {})
        declared = {f.attribute: f for f in self.fields if not f.read_time and f.compute is None}
        env: dict[str, Any] = {}
        items = []
        for i, c in enumerate(columns):
            if c.name == "doc":
                expr = "doc"
            elif c.name in computed:
                env[f"_column{i}"] = computed.pop(c.name)
                expr = f"_column{i}(s)"
            elif (f := declared.get(c.name)) is not None:
                expr = f"s.{c.name}"
                if f.kind is JsonType.ENUM and not f.plain:
                    expr = f"(None if {expr} is None else {expr}.value)" if f.nullable else f"{expr}.value"
                if f.nullable and not c.null:
                    if not c.text:
                        raise ValueError(f"{self.name}.{f.name} is nullable, its column {c.name} is not")
                    expr = f'({expr} or "")'
            else:
                raise ValueError(
                    f"{self.name}: column {c.name!r} has no declared field: declare or compute it"
                )
            items.append(f"{c.name!r}: {expr}")
        if computed:
            raise ValueError(f"{self.name}: computed {sorted(computed)} are not columns")
        return _compile(self.name, "to_row", "s, doc", "{" + _lines(items, "}"), env)

    def keys(self) -> list[str]:
        """The keys the encoder writes, in order (read-time fields aside)."""
        return [f.name for f in self.fields if not f.read_time]


def document(
    name: str, fields: Sequence[DocField], *, description: str = "", read_time: Sequence[DocField] = ()
) -> Document[Any]:
    """Declare a dataclass state's document: `fields` in the contract's order, then the fields the
    read side adds (`read_time`)."""
    extra = tuple(replace(f, read_time=True) for f in read_time)
    return Document(name, (*fields, *extra), description)


# --- a pydantic record's declaration, read from its fields -----------------------------------------

_SCALARS: dict[Any, JsonType] = {
    str: JsonType.STRING,
    Decimal: JsonType.DECIMAL,
    dt.datetime: JsonType.DATETIME,
    int: JsonType.INTEGER,
    bool: JsonType.BOOLEAN,
}


def json_type(annotation: Any) -> tuple[JsonType, bool, type[Enum] | None, JsonType | None]:
    """(type, nullable, enum, items) of a pydantic field's annotation (a record's, a command's)."""
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if origin in (types.UnionType, typing.Union) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        if len(rest) != 1:
            raise TypeError(f"no document type for {annotation!r}: declare the field")
        kind, _, enum, items = json_type(rest[0])
        return kind, True, enum, items
    if origin is typing.Annotated:
        return json_type(args[0])
    if annotation in _SCALARS:
        return _SCALARS[annotation], False, None, None
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return JsonType.ENUM, False, annotation, None
    if origin in (list, tuple):
        inner = json_type(args[0])[0] if args else JsonType.JSON
        return JsonType.LIST, False, None, JsonType.OBJECT if inner is JsonType.OBJECT else inner
    if origin is dict or annotation is dict:
        inner = json_type(args[1])[0] if len(args) == 2 else JsonType.JSON
        return JsonType.OBJECT, False, None, inner if inner in _SCALARS.values() else None
    if annotation is Any:
        return JsonType.JSON, True, None, None
    raise TypeError(f"no document type for {annotation!r}: declare the field")


def record_document(
    model: type[pydantic.BaseModel],
    name: str,
    *,
    help: Mapping[str, str] | None = None,
    values: Mapping[str, tuple[str, ...]] | None = None,
    read_time: Sequence[DocField] = (),
    description: str = "",
) -> Document[Any]:
    """The document of a pydantic record whose `to_api` is `model_dump(by_alias=True)`: its
    fields in the model's order, typed from their annotations; `help` by API name."""
    help = help or {}
    values = values or {}
    fields = []
    for attr, info in model.model_fields.items():
        api = info.alias or attr
        kind, nullable, enum, items = json_type(info.annotation)
        fields.append(
            DocField(
                api,
                kind,
                nullable=nullable,
                help=help.get(api, info.description or (_DEC_HELP if kind is JsonType.DECIMAL else "")),
                attr=attr,
                enum=enum,
                values=values.get(api, ()),
                items=items,
            )
        )
    extra = tuple(replace(f, read_time=True) for f in read_time)
    to_api = getattr(model, "to_api", None)
    return Document(name, (*fields, *extra), description, encoder=to_api)
