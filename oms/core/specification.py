"""The specification builder shared by the query service, the API filters and the blotter.

    spec = OrderSpecification.builder().cl_ord_id("XYZ").status(OrdStatus.NEW).build()
    Order.objects.filter(spec.to_q())     # the query service
    spec.matches(order_dict)              # the same predicate in Python (live feeds)

A subclass declares its criteria once (`fields`); the builder grows one method per criterion.
`from_params` parses API query parameters (the contract's camelCase names, comma-separated
lists) into the same specification, collecting per-field errors.

Besides equality and lists, a criterion may be a `range` (one parameter holding a comparison in
the blotter's header-filter syntax: `100`, `>100`, `<=5`, `10-20`) or a `search` (a case-insensitive
part of any of several columns: the blotter's quick filter), so that the grid's filters on a
history range run in the query API with the meaning they have on the grid.
"""

from __future__ import annotations

import datetime as dt
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any, ClassVar, TypeVar

from django.db.models import Model, Q, QuerySet
from django.utils.dateparse import parse_datetime

from oms.core.errors import ValidationFailed

M = TypeVar("M", bound=Model)


def _plain(value: object) -> object:
    return value.value if isinstance(value, Enum) else value


@dataclass(frozen=True)
class Criterion:
    """One filter: `column` `op` `value`. ops: eq, in, gt, gte, lt, lte, icontains, and search
    (icontains on `column` or any of `also`)."""

    name: str
    column: str
    op: str
    value: Any
    key: str = ""  # the same value's key in the API document (camelCase), when not the column
    also: tuple[tuple[str, str], ...] = ()  # search: more (column, document key) pairs

    def to_q(self) -> Q:
        if self.op == "search":
            q = Q(**{f"{self.column}__icontains": self.value})
            for column, _ in self.also:
                q |= Q(**{f"{column}__icontains": self.value})
            return q
        lookup = self.column if self.op == "eq" else f"{self.column}__{self.op}"
        return Q(**{lookup: self.value})

    def matches(self, row: Mapping[str, object]) -> bool:
        """Evaluate on a row keyed by column, or on the API document (decimals and times as strings)."""
        if self.op == "search":
            return any(
                Criterion(self.name, column, "icontains", self.value, key).matches(row)
                for column, key in ((self.column, self.key), *self.also)
            )
        got = row[self.column] if self.column in row else row.get(self.key or self.column)
        want = self.value
        got = _like(got, want[0] if self.op == "in" and want else want)
        if self.op == "in":
            return got in want
        if self.op == "icontains":
            return got is not None and str(want).lower() in str(got).lower()
        compare = _COMPARE.get(self.op)
        if compare is None:
            raise ValueError(f"unknown op {self.op}")
        if got is None and self.op != "eq":
            return False
        return compare(got, want)


# the values compared are of the criterion's own type (Decimal, datetime, str, int: see `_like`)
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


def _like(got: object, want: object) -> object:
    """The API document's string for a decimal or a time, as the criterion's type (for comparing)."""
    if not isinstance(got, str):
        return got
    if isinstance(want, dt.datetime):
        parsed = parse_datetime(got)
        return parsed if parsed is None or parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    if isinstance(want, Decimal):
        try:
            return Decimal(got)
        except InvalidOperation:
            return None
    return got


def _camel(column: str) -> str:
    head, *rest = column.split("_")
    return head + "".join(part.title() for part in rest)


@dataclass(frozen=True)
class Field:
    """A criterion a specification accepts: its model column, operator and value parser.

    ops: eq, in (comma-separated), gt, gte, lt, lte, icontains; `range` (a comparison or a range of
    a decimal column, see `parse_range`); `search` (icontains on `column` or any of `also`)."""

    column: str
    op: str = "eq"
    param: str | None = None  # the API query parameter name (camelCase); defaults to the column
    choices: type[Enum] | None = None
    kind: str = "str"  # str, decimal, datetime, int, bool (with choices true/false)
    help: str = ""  # what the parameter means, for the API's documentation (its values are added)
    key: str = ""  # the value's key in the API document, when not the param or the column's camelCase
    also: tuple[tuple[str, str], ...] = ()  # search: more (column, document key) pairs


_NUMBER = r"-?\d+(?:\.\d+)?"
_COMPARISON = re.compile(rf"^(<=|>=|<|>|=)?\s*({_NUMBER})$")
_BETWEEN = re.compile(rf"^({_NUMBER})\s*(?:-|\.\.)\s*({_NUMBER})$")
_RANGE_OPS = {"<": "lt", "<=": "lte", ">": "gt", ">=": "gte", "=": "eq", None: "eq"}
RANGE_HELP = "A number (equal), a comparison (>x, >=x, <x, <=x) or a range a-b (both included)."


def parse_range(raw: str) -> list[tuple[str, Decimal]]:
    """`>100` -> [("gt", 100)]; `10-20` -> [("gte", 10), ("lte", 20)]; `5` -> [("eq", 5)]: the
    numeric header filter's syntax (static/blotter/views.js numFilter), for the server's side."""
    text = raw.strip()
    m = _COMPARISON.match(text)
    if m:
        return [(_RANGE_OPS[m.group(1)], Decimal(m.group(2)))]
    m = _BETWEEN.match(text)
    if m:
        return [("gte", Decimal(m.group(1))), ("lte", Decimal(m.group(2)))]
    raise ValueError(f"'{raw}' is not a number, a comparison (>x, >=x, <x, <=x) or a range (a-b)")


def _parse_one(f: Field, raw: object) -> object:
    if isinstance(raw, Enum):
        raw = raw.value
    if isinstance(raw, str) and "\x00" in raw:
        raise ValueError("Null characters are not allowed.")  # PostgreSQL cannot compare them
    if f.choices is not None:
        allowed = {c.value for c in f.choices}
        if raw not in allowed:
            raise ValueError(f"'{raw}' is not one of: {', '.join(sorted(allowed))}")
        if f.kind == "bool":  # choices "true"/"false" for the schema, a bool for the column
            return raw == "true"
        return raw
    if f.kind == "decimal":
        try:
            return Decimal(str(raw))
        except InvalidOperation:
            raise ValueError(f"'{raw}' is not a number") from None
    if f.kind == "int":
        try:
            return int(str(raw))
        except ValueError:
            raise ValueError(f"'{raw}' is not an integer") from None
    if f.kind == "datetime":
        if isinstance(raw, dt.datetime):
            return raw
        parsed = parse_datetime(str(raw))
        if parsed is None:
            raise ValueError(f"'{raw}' is not an ISO-8601 date-time")
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        try:
            return parsed.astimezone(dt.UTC)
        except OverflowError:  # year 1 or 9999 shifted out of range by its offset
            raise ValueError(f"'{raw}' is out of range") from None
    return str(raw)


@dataclass(frozen=True)
class Specification:
    criteria: tuple[Criterion, ...] = ()
    ordering: tuple[str, ...] = ()

    fields: ClassVar[dict[str, Field]] = {}
    orderings: ClassVar[dict[str, str]] = {}  # API ordering name -> column
    default_ordering: ClassVar[tuple[str, ...]] = ()
    # the unique column that breaks ties, so that pages never overlap or skip a row
    id_column: ClassVar[str] = ""

    @classmethod
    def builder(cls) -> SpecificationBuilder:
        return SpecificationBuilder(cls)

    def to_q(self) -> Q:
        q = Q()
        for c in self.criteria:
            q &= c.to_q()
        return q

    def matches(self, row: Mapping[str, object]) -> bool:
        return all(c.matches(row) for c in self.criteria)

    def order_by(self) -> tuple[str, ...]:
        chosen = self.ordering or self.default_ordering
        if not self.id_column or any(c.lstrip("-") == self.id_column for c in chosen):
            return chosen
        return (*chosen, f"-{self.id_column}")

    def apply(self, queryset: QuerySet[M]) -> QuerySet[M]:
        return queryset.filter(self.to_q()).order_by(*self.order_by())

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> Specification:
        builder = cls.builder()
        errors: dict[str, list[str]] = {}
        for name, f in cls.fields.items():
            param = f.param or name
            raw = params.get(param)
            if raw is None or raw == "":
                continue
            values: Iterable[str] = (
                [v.strip() for v in raw.split(",") if v.strip()] if f.op == "in" else [raw]
            )
            try:
                builder.add(name, *values)
            except ValueError as exc:
                errors.setdefault(param, []).append(str(exc))
        ordering = params.get("ordering")
        if ordering:
            try:
                builder.order(*[o.strip() for o in ordering.split(",") if o.strip()])
            except ValueError as exc:
                errors.setdefault("ordering", []).append(str(exc))
        if errors:
            raise ValidationFailed("invalid query parameters", fields=errors)
        return builder.build()


@dataclass
class SpecificationBuilder:
    spec_class: type[Specification]
    criteria: list[Criterion] = field(default_factory=list)
    ordering: list[str] = field(default_factory=list)

    def add(self, name: str, *values: object) -> SpecificationBuilder:
        f = self.spec_class.fields.get(name)
        if f is None:
            raise AttributeError(f"{self.spec_class.__name__} has no criterion '{name}'")
        # an equality's parameter is the document's key (clOrdID, rootId); a range's is not
        # (updatedAfter filters updatedAt): that one is the column's camelCase
        key = f.key or (f.param if f.param and f.op in ("eq", "in") else _camel(f.column))
        if f.op in ("range", "search"):
            if len(values) != 1:
                raise ValueError(f"'{name}' takes one value")
            raw = str(_plain(values[0]))
            if "\x00" in raw:
                raise ValueError("Null characters are not allowed.")
            if f.op == "search":
                self.criteria.append(Criterion(name, f.column, "search", raw, key, f.also))
            else:
                for op, number in parse_range(raw):
                    self.criteria.append(Criterion(name, f.column, op, number, key))
            return self
        parsed = [_parse_one(f, _plain(v)) for v in values]
        if not parsed:
            raise ValueError("no value")
        if f.op == "in":
            if len(parsed) == 1:
                self.criteria.append(Criterion(name, f.column, "eq", parsed[0], key))
                return self
            self.criteria.append(Criterion(name, f.column, "in", tuple(parsed), key))
        else:
            if len(parsed) != 1:
                raise ValueError(f"'{name}' takes one value")
            self.criteria.append(Criterion(name, f.column, f.op, parsed[0], key))
        return self

    def order(self, *names: str) -> SpecificationBuilder:
        for name in names:
            desc = name.startswith("-")
            column = self.spec_class.orderings.get(name.lstrip("-"))
            if column is None:
                allowed = ", ".join(sorted(self.spec_class.orderings))
                raise ValueError(f"cannot order by '{name}' (use one of: {allowed}, '-' for descending)")
            self.ordering.append(f"-{column}" if desc else column)
        return self

    def build(self) -> Specification:
        return self.spec_class(criteria=tuple(self.criteria), ordering=tuple(self.ordering))

    def __getattr__(self, name: str) -> Callable[..., SpecificationBuilder]:
        if name.startswith("_") or name not in self.spec_class.fields:
            raise AttributeError(name)
        return lambda *values: self.add(name, *values)
