"""Each aggregate's document is declared once (oms.core.documents): the encoder, the decoder and
the OpenAPI component are generated from it, so they cannot disagree."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from typing import Any

import pytest
import yaml
from rest_framework.test import APIClient

from oms.api.command_schema import COMMAND_SERIALIZERS
from oms.core import sql
from oms.core.commands import command_class
from oms.core.documents import (
    Column,
    Document,
    JsonType,
    boolean,
    choice,
    decimal,
    document,
    integer,
    json_type,
    obj,
    snake,
    string,
    strings,
    when,
)
from oms.core.eventstore import aggregate_types
from oms.core.eventstore import state_columns as agg_columns
from oms.core.parsing import DECIMAL_PATTERN
from oms.core.readside import read_sides
from oms.orders.document import ORDER_DOCUMENT


class Colour(Enum):
    RED = "Red"
    BLUE = "Blue"


@dataclass
class Thing:
    thing_id: str
    qty: Decimal
    at: dt.datetime
    colour: Colour
    count: int
    ok: bool
    tint: str
    price: Decimal | None = None
    shade: Colour | None = None
    tags: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    double: int = 0


THING = document(
    "ThingState",
    [
        string("thingId"),
        decimal("qty"),
        decimal("price", null=True),
        when("at"),
        choice("colour", Colour),
        choice("shade", Colour, null=True),
        choice("tint", Colour, plain=True),
        integer("count"),
        boolean("ok"),
        strings("tags"),
        obj("extra", decode=lambda d: d.get("extra") or {}),
        integer("double", derived=True),
        integer("half", compute=lambda s: s.count // 2),
    ],
    read_time=[decimal("mark", null=True)],
)


def _thing() -> Thing:
    return Thing(
        thing_id="T1",
        qty=Decimal("100.2500"),
        at=dt.datetime(2026, 11, 30, 15, 0, tzinfo=dt.timezone(dt.timedelta(hours=1))),
        colour=Colour.RED,
        count=7,
        ok=True,
        tint="Blue",
        tags=["a"],
        double=14,
    )


def test_the_encoder_writes_the_declared_keys_in_order_as_json_values() -> None:
    thing = _thing()
    doc = THING.encode(thing)
    assert doc == {
        "thingId": "T1",
        "qty": "100.25",
        "price": None,
        "at": "2026-11-30T14:00:00Z",
        "colour": "Red",
        "shade": None,
        "tint": "Blue",
        "count": 7,
        "ok": True,
        "tags": ["a"],
        "extra": {},
        "double": 14,
        "half": 3,
    }
    assert list(doc) == THING.keys() == [f.name for f in THING.fields if f.name != "mark"]
    doc["tags"].append("b")
    assert thing.tags == ["a"]  # the document never shares a list with the state


def test_the_decoder_reads_back_the_stored_fields_and_leaves_derived_ones_to_the_state() -> None:
    doc = {**THING.encode(_thing()), "shade": "Blue", "price": "1.5", "extra": None}
    back = THING.decoder(Thing)(doc)
    assert back == Thing(
        thing_id="T1",
        qty=Decimal("100.25"),
        at=dt.datetime(2026, 11, 30, 14, 0, tzinfo=dt.UTC),
        colour=Colour.RED,
        count=7,
        ok=True,
        tint="Blue",
        price=Decimal("1.5"),
        shade=Colour.BLUE,
        tags=["a"],
        extra={},
        double=0,  # derived: not read back
    )
    assert "half" not in THING.decode(doc) and "double" not in THING.decode(doc)


def test_a_declaration_refuses_a_key_twice_and_an_attribute_that_is_not_a_name() -> None:
    with pytest.raises(ValueError, match="declared twice"):
        document("Bad", [string("a"), integer("a")])
    with pytest.raises(ValueError, match="not an attribute name"):
        document("Bad", [string("a", attr="x); import os; (y")])


def _columns(*spec: str) -> list[Column]:
    """`name` a NOT NULL non-text column, `name?` nullable, `name$` NOT NULL text."""
    return [Column(c.rstrip("?$"), c.endswith("?"), c.endswith("$")) for c in spec]


def test_the_row_writer_takes_each_column_from_its_declared_field() -> None:
    thing = _thing()
    to_row = THING.row_writer(
        _columns("thing_id$", "qty", "price?", "colour$", "shade$", "tint$", "count", "doc", "weight"),
        {"weight": lambda s: s.count * 10},
    )
    doc = THING.encode(thing)
    row = to_row(thing, doc)
    assert row == {
        "thing_id": "T1",
        "qty": Decimal("100.2500"),  # the state's value: the column's type stores it
        "price": None,  # nullable column: NULL
        "colour": "Red",  # an enum member as its value
        "shade": "",  # nullable field, NOT NULL text column: ""
        "tint": "Blue",  # a plain enum string as it is
        "count": 7,
        "doc": doc,
        "weight": 70,  # computed: the document does not carry it
    }
    thing.shade = Colour.BLUE
    assert to_row(thing, doc)["shade"] == "Blue"


def test_the_row_writer_refuses_a_column_it_cannot_fill_at_registration() -> None:
    with pytest.raises(ValueError, match="'mystery' has no declared field"):
        THING.row_writer(_columns("thing_id$", "mystery"))
    with pytest.raises(ValueError, match="'half' has no declared field"):  # computed for the API only
        THING.row_writer(_columns("half"))
    with pytest.raises(ValueError, match="price is nullable, its column price is not"):
        THING.row_writer(_columns("price"))
    with pytest.raises(ValueError, match=r"computed \['ghost'\] are not columns"):
        THING.row_writer(_columns("thing_id$"), {"ghost": lambda s: 1})


def test_every_aggregate_writes_exactly_its_state_table_columns() -> None:
    for agg in aggregate_types():
        columns = [f.attname for f in sql.state_fields(agg.state_model)]
        assert agg.to_row.__name__ == "to_row", agg.name  # generated, not hand-written
        assert agg.to_row.__code__.co_filename.startswith("<document"), agg.name
        # every column, none else, in the table's order (any attribute answers: only keys count)
        assert agg.document is not None, agg.name
        stubbed = {name: (lambda s: None) for name in agg.row_columns}
        assert list(agg.document.row_writer(agg_columns(agg), stubbed)(_AnyState(), {})) == columns, agg.name


class _AnyState:
    value = "v"

    def __getattr__(self, name: str) -> Any:
        return self


def test_api_names_map_to_snake_case_attributes() -> None:
    assert [snake(n) for n in ("clOrdID", "origClOrdID", "avgPx", "quoteReqID", "durationMs")] == [
        "cl_ord_id",
        "orig_cl_ord_id",
        "avg_px",
        "quote_req_id",
        "duration_ms",
    ]


@pytest.fixture
def schema(viewer: APIClient) -> dict[str, Any]:
    return yaml.safe_load(viewer.get("/api/schema").content)


def _documents() -> list[Document[Any]]:
    return [a.document for a in aggregate_types() if a.document is not None]


def test_every_document_component_is_its_declaration(schema: dict[str, Any]) -> None:
    components = schema["components"]["schemas"]
    for doc in _documents():
        component = components[doc.name]
        assert list(component["properties"]) == [f.name for f in doc.fields], doc.name
        assert component["required"] == sorted(f.name for f in doc.fields), doc.name
        for f in doc.fields:
            prop = component["properties"][f.name]
            # an enum is a $ref, under allOf when described, under oneOf with NullEnum when nullable
            refs = [o["$ref"] for o in [prop, *prop.get("allOf", []), *prop.get("oneOf", [])] if "$ref" in o]
            nullable = prop.get("nullable", False) or any(r.endswith("/NullEnum") for r in refs)
            assert nullable == f.nullable, (doc.name, f.name)
            if f.kind is JsonType.DATETIME:
                assert prop["format"] == "date-time", (doc.name, f.name)
            if f.kind is JsonType.ENUM:
                enum = components[refs[0].rsplit("/", 1)[1]]["enum"]
                assert enum == list(f.choices), (doc.name, f.name)


def test_every_query_detail_answers_its_declared_component(schema: dict[str, Any]) -> None:
    for read in read_sides():
        assert read.aggregate.document is not None, read.name
        detail = schema["paths"][f"/api/queries/{read.path}/{{{read.id_field}}}"]
        ref = detail["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        assert ref == f"#/components/schemas/{read.aggregate.document.name}", read.name


def test_an_order_as_the_api_answers_it_has_the_declared_keys(run: Any, viewer: APIClient) -> None:
    result = run(
        "orders",
        {
            "commandType": "CreateOrderCommand",
            "clOrdID": "DOC-1",
            "symbol": "AAPL",
            "side": "Buy",
            "orderQty": "100",
            "ordType": "Limit",
            "price": "10.5",
            "account": "ACC-1",
        },
    )
    # the command's answer is the encoder's document, keys in the declared order
    assert list(result.body["order"]) == ORDER_DOCUMENT.keys()
    order_id = result.body["order"]["orderId"]
    answered = viewer.get(f"/api/queries/orders/{order_id}").json()
    # the stored copy (PostgreSQL's jsonb keeps its own key order): the same keys
    assert sorted(answered) == sorted(ORDER_DOCUMENT.keys())
    assert answered["orderQty"] == "100" and answered["price"] == "10.5"


def test_command_bodies_are_typed_from_the_command_models(schema: dict[str, Any]) -> None:
    components = schema["components"]["schemas"]
    checked = 0
    for by_type in COMMAND_SERIALIZERS.values():
        for command_type in by_type:
            model = command_class(command_type)
            component = components[command_type]
            required = {name for name in model.api_fields() if model.api_field(name).is_required()}
            if command_type == "CreateOrderCommand":  # a client order's rule (a child inherits them)
                required |= {"symbol", "side", "ordType", "account"}
            assert set(component["required"]) == {"commandType", *required}, command_type
            for name in model.api_fields():
                kind, _, enum, _ = json_type(model.api_field(name).annotation)
                prop = component["properties"][name]
                if kind is JsonType.DECIMAL:
                    assert prop["pattern"] == DECIMAL_PATTERN, (command_type, name)
                    checked += 1
                if kind is JsonType.ENUM:
                    ref = next(o["$ref"] for o in [prop, *prop.get("oneOf", [])] if "$ref" in o)
                    assert components[ref.rsplit("/", 1)[1]]["enum"] == [e.value for e in enum]
                    checked += 1
    assert checked > 40  # orders, executions, quotes, instruments, limits, sim, controls...
