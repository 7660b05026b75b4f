"""The condition language of data rules (rules/conditions.py), by property: a parsed condition
writes back to JSON that parses to the same condition; the compiled closure agrees with a small
independent reference evaluator over generated orders; a malformed condition answers 400 with
its path and writes nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules.conditions import ConditionError, Facts, compile_condition, compile_first, parse, to_json
from rules.models import Rule, RuleEvent

# --- generators -----------------------------------------------------------------------------------
# small pools, so that generated comparisons hit the generated orders often

SYMBOLS = ["AAA", "BBB", "CCC"]
ACCOUNTS = ["A1", "A2"]
VENUES = ["SIM", "XNAS", "MANUAL"]
ENUM_VALUES = {
    "side": ["Buy", "Sell", "SellShort"],
    "ordType": ["Market", "Limit", "Stop", "StopLimit"],
    "timeInForce": ["Day", "GTC", "IOC", "FOK", "GTD"],
    "handling": ["Auto", "Desk"],
}
TEXT_VALUES = {"symbol": SYMBOLS, "account": ACCOUNTS, "venue": VENUES}
NUMBERS = ["0", "1", "2.5", "10", "100", "250.75", "1000", "-3"]
TIMES = ["00:00", "09:30", "12:00", "16:30", "23:59"]
NUMERIC = ["orderQty", "price", "notional"]
TEXTUAL = [*TEXT_VALUES, *ENUM_VALUES]


def _pool(field: str) -> list[Any]:
    if field in NUMERIC:
        return NUMBERS
    if field == "timeOfDay":
        return TIMES
    return TEXT_VALUES.get(field) or ENUM_VALUES[field]


@st.composite
def comparisons(draw: Any) -> dict[str, Any]:
    field = draw(st.sampled_from([*NUMERIC, *TEXTUAL, "timeOfDay"]))
    ordered = field in NUMERIC or field == "timeOfDay"
    op = draw(st.sampled_from(["==", "!=", "in", "not_in", *(["<", "<=", ">", ">="] if ordered else [])]))
    scalar = st.sampled_from(_pool(field))
    if field in NUMERIC:  # numbers as strings and as JSON numbers alike
        scalar = scalar | st.sampled_from([0, 1, 10, 100, 2.5])
    if op in ("in", "not_in"):
        value: Any = draw(st.lists(scalar | st.none(), min_size=1, max_size=4))
    elif op in ("==", "!="):
        value = draw(scalar | st.none())
    else:
        value = draw(scalar)
    return {"field": field, "op": op, "value": value}


conditions = st.recursive(
    comparisons(),
    lambda inner: (
        st.builds(lambda items: {"all": items}, st.lists(inner, max_size=3))
        | st.builds(lambda items: {"any": items}, st.lists(inner, max_size=3))
        | st.builds(lambda item: {"not": item}, inner)
    ),
    max_leaves=8,
)


@st.composite
def orders(draw: Any) -> dict[str, Any]:
    maybe = st.none() | st.just("")
    return {
        "symbol": draw(st.sampled_from(SYMBOLS)),
        "side": draw(st.sampled_from(ENUM_VALUES["side"])),
        "account": draw(st.sampled_from(ACCOUNTS)),
        "venue": draw(st.sampled_from(VENUES) | maybe),
        "ordType": draw(st.sampled_from(ENUM_VALUES["ordType"])),
        "timeInForce": draw(st.sampled_from(ENUM_VALUES["timeInForce"])),
        "orderQty": draw(st.sampled_from(["1", "10", "100", "2.5"])),
        "price": draw(st.sampled_from(["1", "10", "100", "250.75"]) | st.none()),
        "handling": draw(st.sampled_from(ENUM_VALUES["handling"]) | st.none()),
    }


times = st.datetimes(
    min_value=dt.datetime(2026, 1, 1), max_value=dt.datetime(2026, 12, 31), timezones=st.just(dt.UTC)
)
multipliers = st.sampled_from([None, Decimal(1), Decimal(10), Decimal("0.5")])


# --- the reference: the contract's semantics, written out plainly ----------------------------------


def _num(v: Any) -> Decimal:
    return Decimal(str(v))


def ref_value(field: str, order: dict[str, Any], at: dt.datetime, multiplier: Decimal | None) -> Any:
    if field == "timeOfDay":
        return f"{at.hour:02d}:{at.minute:02d}"
    if field == "notional":
        if not order.get("price"):
            return None
        return _num(order["orderQty"]) * _num(order["price"]) * (multiplier or 1)
    raw = order.get(field)
    if raw in (None, ""):
        return None
    return _num(raw) if field in NUMERIC else raw


def ref_eval(c: dict[str, Any], order: dict[str, Any], at: dt.datetime, multiplier: Decimal | None) -> bool:
    if "all" in c:
        return all(ref_eval(i, order, at, multiplier) for i in c["all"])
    if "any" in c:
        return any(ref_eval(i, order, at, multiplier) for i in c["any"])
    if "not" in c:
        return not ref_eval(c["not"], order, at, multiplier)
    got = ref_value(c["field"], order, at, multiplier)
    numeric = c["field"] in NUMERIC

    def want(v: Any) -> Any:
        return None if v is None else (_num(v) if numeric else v)

    op, value = c["op"], c["value"]
    if op == "in":
        return any(got == want(v) for v in value)
    if op == "not_in":
        return all(got != want(v) for v in value)
    if op == "==":
        return bool(got == want(value))
    if op == "!=":
        return bool(got != want(value))
    if got is None:
        return False
    return {
        "<": got < want(value),
        "<=": got <= want(value),
        ">": got > want(value),
        ">=": got >= want(value),
    }[op]


# --- properties -----------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(conditions)
def test_a_parsed_condition_round_trips_through_its_json(raw: dict[str, Any]) -> None:
    c = parse(raw)
    assert parse(to_json(c)) == c
    assert to_json(parse(to_json(c))) == to_json(c)


@settings(max_examples=400, deadline=None)
@given(conditions, orders(), times, multipliers)
def test_the_compiled_condition_agrees_with_the_reference_evaluator(
    raw: dict[str, Any], order: dict[str, Any], at: dt.datetime, multiplier: Decimal | None
) -> None:
    compiled = compile_condition(parse(raw))
    facts = Facts(order, at=at, multiplier=lambda: multiplier)
    assert compiled(facts) == ref_eval(raw, order, at, multiplier)


@settings(max_examples=400, deadline=None)
@given(st.lists(conditions, max_size=6), orders(), times, multipliers)
def test_a_rule_sets_one_generated_function_finds_the_first_condition_the_reference_evaluator_matches(
    raws: list[dict[str, Any]], order: dict[str, Any], at: dt.datetime, multiplier: Decimal | None
) -> None:
    first = compile_first([parse(raw) for raw in raws])
    facts = Facts(order, at=at, multiplier=lambda: multiplier)
    expected = next((i for i, raw in enumerate(raws) if ref_eval(raw, order, at, multiplier)), -1)
    assert first(facts) == expected


def test_the_generated_function_skips_the_rules_that_miss_and_reads_notional_once() -> None:
    asked: list[int] = []

    def multiplier() -> Decimal:
        asked.append(1)
        return Decimal("0.5")

    first = compile_first(
        [
            parse({"field": "symbol", "op": "==", "value": "BBB"}),
            parse({"field": "notional", "op": ">", "value": "1000"}),
            parse({"not": {"field": "price", "op": "<", "value": "10"}}),
            parse({"field": "notional", "op": "<=", "value": "1000"}),
        ]
    )
    order = {"symbol": "AAA", "side": "Buy", "orderQty": "10", "price": "100", "ordType": "Limit"}
    assert first(Facts(order, at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), multiplier=multiplier)) == 2
    assert asked == [1]  # notional = 10 x 100 x 0.5 = 500: computed once, kept
    assert compile_first([])(Facts(order, at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))) == -1
    market = {**order, "price": None, "ordType": "Market"}
    # the ordered comparisons are false on null, so `not (price < 10)` holds for a market order
    assert first(Facts(market, at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), multiplier=multiplier)) == 2


def test_the_generators_reach_both_outcomes() -> None:
    """Guards the property above against vacuity: generated conditions both match and miss."""
    seen: set[bool] = set()

    @settings(max_examples=200, deadline=None)
    @given(conditions, orders(), times)
    def probe(raw: dict[str, Any], order: dict[str, Any], at: dt.datetime) -> None:
        seen.add(ref_eval(raw, order, at, None))

    probe()
    assert seen == {True, False}


# --- malformed conditions -------------------------------------------------------------------------

CORRUPTIONS: list[tuple[str, Any]] = [
    ("field", "colour"),  # not an order field
    ("field", 7),
    ("op", "=~"),
    ("op", None),
    ("value", {"a": 1}),
    ("value", True),
    ("extra", "x"),
]


@st.composite
def malformed(draw: Any) -> tuple[dict[str, Any], str]:
    """A valid condition with one comparison broken; returns it and the path that must be named."""
    kind = draw(
        st.sampled_from(["corrupt", "ordered_text", "empty_in", "bad_time", "not_object", "two_keys"])
    )
    leaf = draw(comparisons())
    if kind == "corrupt":
        key, bad = draw(st.sampled_from(CORRUPTIONS))
        leaf = {**leaf, key: bad}
        if key == "value" and leaf["op"] in ("in", "not_in"):
            leaf["value"] = [bad]
            key = "value[0]"
    elif kind == "ordered_text":
        leaf = {"field": draw(st.sampled_from(TEXTUAL)), "op": "<", "value": "AAA"}
        key = "op"
    elif kind == "empty_in":
        leaf = {"field": "symbol", "op": draw(st.sampled_from(["in", "not_in"])), "value": []}
        key = "value"
    elif kind == "bad_time":
        leaf = {
            "field": "timeOfDay",
            "op": ">",
            "value": draw(st.sampled_from(["24:00", "9:30", "noon", "12:60"])),
        }
        key = "value"
    elif kind == "not_object":
        leaf, key = draw(st.sampled_from([[1], "x", 3, None])), ""
    else:
        leaf, key = {"all": [], "any": []}, ""
    # bury it at a generated place of an otherwise valid condition
    depth = draw(st.integers(0, 3))
    path = "when"
    node: Any = leaf
    trail = []
    for _ in range(depth):
        wrap = draw(st.sampled_from(["all", "any", "not"]))
        if wrap == "not":
            node, trail = {"not": node}, [".not", *trail]
        else:
            before = draw(st.lists(comparisons(), max_size=2))
            node, trail = {wrap: [*before, node]}, [f".{wrap}[{len(before)}]", *trail]
    path += "".join(trail)
    return node, f"{path}.{key}" if key else path


def test_a_malformed_condition_names_its_path() -> None:
    with pytest.raises(ConditionError) as caught:
        parse(
            {
                "all": [
                    {"field": "symbol", "op": "==", "value": "A"},
                    {"field": "side", "op": "<", "value": "Buy"},
                ]
            }
        )
    assert caught.value.errors == {"when.all[1].op": ["side is not ordered: use ==, !=, in or not_in."]}


@pytest.mark.django_db
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(malformed())
def test_a_malformed_condition_answers_400_pointing_into_it_and_writes_nothing(
    boss: Any, case: tuple[dict[str, Any], str]
) -> None:
    when, path = case
    rules, events = Rule.objects.count(), RuleEvent.objects.count()
    body = {
        "commandType": "CreateRuleCommand",
        "name": "broken",
        "when": when,
        "action": {"handling": "Desk", "reason": "x"},
    }
    response = boss.post("/api/commands/rules", body, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert path in error["fields"], (path, error["fields"])
    assert all(k.startswith("when") for k in error["fields"]), error["fields"]
    assert (Rule.objects.count(), RuleEvent.objects.count()) == (rules, events)
