"""The condition language of data rules: parse, write back, compile (pure: no Django).

    {"all": [c, ...]}   {"any": [c, ...]}   {"not": c}   {"field": f, "op": op, "value": v}

`parse(raw)` answers a typed tree (frozen dataclasses, values normalized: decimals as `Decimal`,
lists as tuples) or raises `ConditionError` with every problem keyed by its path in the rule
(`when.all[1].op`), so a 400 points into the condition. `to_json` writes the tree back
(`parse(to_json(c)) == c`); `compile` turns it into one closure over `Facts`, built once per rule
version, so evaluating an order is a few Python calls per condition node and no parsing.

Semantics: a field the order does not have (a market order's `price`, a client order without
`venue`) is null. `==`/`!=` compare with null too (`{"field": "venue", "op": "==", "value": null}`
is "no venue"); the ordered comparisons are false on null; `in`/`not_in` take a list that may
hold null. `notional` is orderQty x price x the instrument's multiplier (1 where no instrument is
known), null without a price; `timeOfDay` is "HH:MM" UTC when the rule is evaluated (for a
backtest: when the order was created).
"""

from __future__ import annotations

import datetime as dt
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, TypeAlias

# --- vocabulary -----------------------------------------------------------------------------------

TEXT, ENUM, NUMBER, TIME = "text", "enum", "number", "time"

# the contract's values of the enumerated order fields (rules knows no order model)
ENUMS: dict[str, tuple[str, ...]] = {
    "side": ("Buy", "Sell", "SellShort"),
    "ordType": ("Market", "Limit", "Stop", "StopLimit"),
    "timeInForce": ("Day", "GTC", "IOC", "FOK", "GTD"),
    "handling": ("Auto", "Desk"),  # the handling the client requested (null: none)
}
FIELDS: dict[str, str] = {
    "symbol": TEXT,
    "side": ENUM,
    "account": TEXT,
    "venue": TEXT,
    "ordType": ENUM,
    "timeInForce": ENUM,
    "orderQty": NUMBER,
    "price": NUMBER,
    "handling": ENUM,
    "notional": NUMBER,  # derived
    "timeOfDay": TIME,  # derived
}
DERIVED = frozenset({"notional", "timeOfDay"})
EQUALITY_OPS = ("==", "!=")
ORDERED_OPS = ("<", "<=", ">", ">=")
SET_OPS = ("in", "not_in")
OPS = (*EQUALITY_OPS, *ORDERED_OPS, *SET_OPS)

MAX_DEPTH = 8  # nesting of all/any/not
MAX_NODES = 200  # every node of one condition
MAX_LIST = 500  # values of one in/not_in
MAX_TEXT = 64
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")

Scalar: TypeAlias = str | Decimal | None
Value: TypeAlias = Scalar | tuple[Scalar, ...]


# --- the tree -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AllOf:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class AnyOf:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    item: Condition


@dataclass(frozen=True)
class Compare:
    field: str
    op: str
    value: Value


Condition: TypeAlias = AllOf | AnyOf | Not | Compare


class ConditionError(ValueError):
    """Every problem of a condition: {path: [message, ...]}, e.g. {"when.all[0].op": [...]}."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


# --- parse ----------------------------------------------------------------------------------------


class _Parser:
    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}
        self.nodes = 0

    def error(self, path: str, message: str) -> None:
        self.errors.setdefault(path, []).append(message)

    def node(self, raw: Any, path: str, depth: int) -> Condition | None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            if self.nodes == MAX_NODES + 1:
                self.error(path, f"Too large: at most {MAX_NODES} conditions in one rule.")
            return None
        if not isinstance(raw, dict):
            self.error(path, "Must be a JSON object: {all|any: [...]}, {not: ...} or {field, op, value}.")
            return None
        keys = set(raw)
        if keys & {"all", "any", "not"}:
            if len(keys) != 1:
                self.error(path, "A combinator has exactly one key: all, any or not.")
                return None
            if depth >= MAX_DEPTH:
                self.error(path, f"Too deep: at most {MAX_DEPTH} levels of all/any/not.")
                return None
            (key,) = keys
            if key == "not":
                item = self.node(raw["not"], f"{path}.not", depth + 1)
                return None if item is None else Not(item)
            items = raw[key]
            if not isinstance(items, list):
                self.error(f"{path}.{key}", "Must be a list of conditions.")
                return None
            parsed = [self.node(c, f"{path}.{key}[{i}]", depth + 1) for i, c in enumerate(items)]
            if any(p is None for p in parsed):
                return None
            done = tuple(p for p in parsed if p is not None)
            return AllOf(done) if key == "all" else AnyOf(done)
        return self.compare(raw, path)

    def compare(self, raw: dict[str, Any], path: str) -> Compare | None:
        ok = True
        for extra in sorted(set(raw) - {"field", "op", "value"}, key=str):
            self.error(f"{path}.{extra}", "Unknown key: a comparison has field, op and value.")
            ok = False
        for required in ("field", "op", "value"):
            if required not in raw:
                self.error(f"{path}.{required}", "This field is required.")
                ok = False
        field, op = raw.get("field"), raw.get("op")
        if "field" in raw and (not isinstance(field, str) or field not in FIELDS):
            self.error(f"{path}.field", f"Must be one of: {', '.join(FIELDS)}.")
            ok = False
        if "op" in raw and (not isinstance(op, str) or op not in OPS):
            self.error(f"{path}.op", f"Must be one of: {', '.join(OPS)}.")
            ok = False
        if not ok:
            return None
        assert isinstance(field, str) and isinstance(op, str)
        kind = FIELDS[field]
        if op in ORDERED_OPS and kind not in (NUMBER, TIME):
            self.error(f"{path}.op", f"{field} is not ordered: use ==, !=, in or not_in.")
            return None
        value = self.value(field, op, raw["value"], f"{path}.value")
        return None if value is _BAD else Compare(field, op, value)  # type: ignore[arg-type]  # _BAD filtered

    def value(self, field: str, op: str, raw: Any, path: str) -> Value | object:
        if op in SET_OPS:
            if not isinstance(raw, list) or not raw:
                self.error(path, f"{op} takes a non-empty list of values.")
                return _BAD
            if len(raw) > MAX_LIST:
                self.error(path, f"At most {MAX_LIST} values.")
                return _BAD
            out = [self.scalar(field, v, f"{path}[{i}]", nullable=True) for i, v in enumerate(raw)]
            return _BAD if any(v is _BAD for v in out) else tuple(out)
        return self.scalar(field, raw, path, nullable=op in EQUALITY_OPS)

    def scalar(self, field: str, raw: Any, path: str, *, nullable: bool) -> Scalar | object:
        if raw is None:
            if nullable:
                return None
            self.error(path, "Must not be null: only ==, !=, in and not_in compare with null.")
            return _BAD
        kind = FIELDS[field]
        if kind == NUMBER:
            number = _decimal(raw)
            if number is None:
                self.error(path, 'Must be a decimal number, e.g. "100.25".')
                return _BAD
            return number
        if not isinstance(raw, str):
            self.error(path, "Must be a string.")
            return _BAD
        if kind == ENUM and raw not in ENUMS[field]:
            self.error(path, f"Must be one of: {', '.join(ENUMS[field])}.")
            return _BAD
        if kind == TIME and not _HHMM.match(raw):
            self.error(path, 'Must be a UTC time "HH:MM", e.g. "16:30".')
            return _BAD
        if kind == TEXT and not (0 < len(raw) <= MAX_TEXT):
            self.error(path, f"Must be 1 to {MAX_TEXT} characters (null for none).")
            return _BAD
        return raw


_BAD = object()


def _decimal(raw: Any) -> Decimal | None:
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        return None
    try:
        number = Decimal(str(raw).strip()) if isinstance(raw, str) else Decimal(str(raw))
    except InvalidOperation:
        return None
    if not number.is_finite() or abs(number.adjusted()) > 30:
        return None
    return number


def parse(raw: Any, path: str = "when") -> Condition:
    parser = _Parser()
    condition = parser.node(raw, path, 0)
    if parser.errors or condition is None:
        raise ConditionError(parser.errors or {path: ["Invalid condition."]})
    return condition


# --- write back -----------------------------------------------------------------------------------


def _json_scalar(value: Scalar) -> str | None:
    if isinstance(value, Decimal):
        return "0" if value == 0 else format(value.normalize(), "f")
    return value


def to_json(c: Condition) -> dict[str, Any]:
    if isinstance(c, AllOf):
        return {"all": [to_json(i) for i in c.items]}
    if isinstance(c, AnyOf):
        return {"any": [to_json(i) for i in c.items]}
    if isinstance(c, Not):
        return {"not": to_json(c.item)}
    value: Any = [_json_scalar(v) for v in c.value] if isinstance(c.value, tuple) else _json_scalar(c.value)
    return {"field": c.field, "op": c.op, "value": value}


def fields_used(c: Condition) -> frozenset[str]:
    if isinstance(c, AllOf | AnyOf):
        return frozenset().union(*(fields_used(i) for i in c.items))
    if isinstance(c, Not):
        return fields_used(c.item)
    return frozenset({c.field})


def describe(c: Condition) -> str:
    """One line for people (the admin's list, a refusal's message)."""
    if isinstance(c, AllOf):
        return "always" if not c.items else " and ".join(_paren(i) for i in c.items)
    if isinstance(c, AnyOf):
        return "never" if not c.items else " or ".join(_paren(i) for i in c.items)
    if isinstance(c, Not):
        return f"not {_paren(c.item)}"
    shown = (
        "[" + ", ".join(str(_json_scalar(v)) for v in c.value) + "]"
        if isinstance(c.value, tuple)
        else ("null" if c.value is None else str(_json_scalar(c.value)))
    )
    return f"{c.field} {c.op} {shown}"


def _paren(c: Condition) -> str:
    text = describe(c)
    return f"({text})" if isinstance(c, AllOf | AnyOf) and len(c.items) > 1 else text


# --- evaluate -------------------------------------------------------------------------------------


class Facts:
    """An order as conditions read it: every field by API name, derived ones computed on demand.

    `order` is the orders app's plain mapping (API names and values); `at` the evaluation time;
    `multiplier()` the instrument's contract size (asked only when a rule reads `notional`).
    """

    __slots__ = ("_at", "_multiplier", "_values")

    def __init__(
        self,
        order: Mapping[str, Any],
        *,
        at: dt.datetime,
        multiplier: Callable[[], Decimal | None] | None = None,
    ):
        values: dict[str, Scalar] = {}
        for name, kind in FIELDS.items():
            if name in DERIVED:
                continue
            raw = order.get(name)
            if raw is None or raw == "":
                values[name] = None
            elif kind == NUMBER:
                values[name] = _decimal(raw)
            else:
                values[name] = str(getattr(raw, "value", raw))  # an enum member -> its API value
        self._values = values
        self._at = at
        self._multiplier = multiplier

    def get(self, name: str) -> Scalar:
        known = self._values.get(name, _BAD)
        if known is not _BAD:
            return known  # type: ignore[return-value]  # _BAD is the only non-Scalar
        if name == "timeOfDay":
            at = self._at.astimezone(dt.UTC)
            value: Scalar = f"{at.hour:02d}:{at.minute:02d}"  # strftime's "%H:%M", without its cost
        elif name == "notional":
            qty, px = self._values["orderQty"], self._values["price"]
            if not isinstance(qty, Decimal) or not isinstance(px, Decimal):
                value = None
            else:
                multiplier = self._multiplier() if self._multiplier is not None else None
                value = qty * px * (multiplier if multiplier is not None else Decimal(1))
        else:
            raise KeyError(name)
        self._values[name] = value
        return value


Predicate = Callable[[Facts], bool]
_UNREAD = object()  # compile_first: a derived field not computed yet for this order


_ORDERED: dict[str, Callable[[Any, Any], Any]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _compare(field: str, op: str, value: Value) -> Predicate:
    if op in SET_OPS:
        assert isinstance(value, tuple)
        members = frozenset(value)
        if op == "in":
            return lambda f: f.get(field) in members
        return lambda f: f.get(field) not in members
    if op == "==":
        return lambda f: f.get(field) == value
    if op == "!=":
        return lambda f: f.get(field) != value
    bound: Any = value  # a Decimal or an "HH:MM" string: both order correctly with their own kind
    compare = _ORDERED[op]

    def ordered(f: Facts) -> bool:
        v = f.get(field)
        return v is not None and bool(compare(v, bound))

    return ordered


def compile_condition(c: Condition) -> Predicate:
    """One closure for the whole tree (built once per rule version)."""
    # plain loops and two-part specializations: a generator per node costs more than the test
    if isinstance(c, AllOf):
        parts = tuple(compile_condition(i) for i in c.items)
        if len(parts) == 1:
            return parts[0]
        if len(parts) == 2:
            a, b = parts
            return lambda f: a(f) and b(f)

        def all_of(f: Facts) -> bool:
            for p in parts:
                if not p(f):
                    return False
            return True

        return all_of
    if isinstance(c, AnyOf):
        parts = tuple(compile_condition(i) for i in c.items)
        if len(parts) == 1:
            return parts[0]
        if len(parts) == 2:
            a, b = parts
            return lambda f: a(f) or b(f)

        def any_of(f: Facts) -> bool:
            for p in parts:
                if p(f):
                    return True
            return False

        return any_of
    if isinstance(c, Not):
        inner = compile_condition(c.item)
        return lambda f: not inner(f)
    return _compare(c.field, c.op, c.value)


# --- one function for a rule set --------------------------------------------------------------------


def compile_first(conditions: Sequence[Condition]) -> Callable[[Facts], int]:
    """The index of the first condition that holds for an order (-1: none), as ONE generated
    function: an `if` per condition over the order's values, no call per node. It evaluates what
    `compile_condition`'s closures evaluate, in the same order with the same short-circuits, so
    tried one after the other they answer the same (tests/test_rules_conditions.py checks it
    against the reference evaluator). Built once per rule set (rules.active); a set of 100 rules
    is tried in a fraction of the closures' time, which is most of routing's cost per order."""
    consts: dict[str, Any] = {}
    temps = iter(range(1 << 30))
    # each field's value in a local of its own (`_f0`...): a plain field read once at the top
    # (one dict lookup per field, not one per comparison: 100 rules make ~200 comparisons), a
    # derived one on its first read only (`_UNREAD` until then: a rule set that never reaches
    # `notional` never asks for the multiplier), then kept
    local: dict[str, str] = {}

    def const(value: Any) -> str:
        name = f"_c{len(consts)}"
        consts[name] = value
        return name

    def expr(c: Condition) -> str:
        if isinstance(c, AllOf | AnyOf):
            if not c.items:
                return "True" if isinstance(c, AllOf) else "False"
            glue = " and " if isinstance(c, AllOf) else " or "
            return "(" + glue.join(expr(i) for i in c.items) + ")"
        if isinstance(c, Not):
            return f"(not {expr(c.item)})"
        name = local.setdefault(c.field, f"_f{len(local)}")
        read = (
            f"({name} if {name} is not _UNREAD else ({name} := _g({c.field!r})))"
            if c.field in DERIVED
            else name
        )
        if c.op in SET_OPS:
            assert isinstance(c.value, tuple)
            return f"({read} {'in' if c.op == 'in' else 'not in'} {const(frozenset(c.value))})"
        if c.op in EQUALITY_OPS:
            return f"({read} {c.op} {const(c.value)})"
        if c.op not in ORDERED_OPS:
            raise ValueError(f"unknown operator {c.op!r}")
        t = f"_t{next(temps)}"  # ordered: false on null, like `_compare`'s `ordered`
        return f"(({t} := {read}) is not None and {t} {c.op} {const(c.value)})"

    body = []
    for i, c in enumerate(conditions):
        body += [f"    if {expr(c)}:", f"        return {i}"]
    # a plain field is always in Facts._values; a derived one is computed (and kept) by get()
    head = ["def first(f):", "    _v = f._values", "    _g = f.get"]
    head += [
        f"    {name} = _UNREAD" if field in DERIVED else f"    {name} = _v[{field!r}]"
        for field, name in local.items()
    ]
    lines = [*head, *body, "    return -1"]
    # the source holds only field names (quoted with repr; `parse` admits only FIELDS), the fixed
    # operators and the constants' names: no value of a rule is ever written into it
    namespace: dict[str, Any] = {**consts, "_UNREAD": _UNREAD}
    exec(compile("\n".join(lines), "<rules.conditions.compile_first>", "exec"), namespace)
    first: Callable[[Facts], int] = namespace["first"]
    return first
