"""The OpenAPI schema (/api/schema) says what the server does (issue 8, item 7); the fuzzer in
scripts/schemathesis.sh proves it against the running server, these pin the shape of it."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from rest_framework.test import APIClient

from oms.core import dispatch as bus
from oms.core import eventfeed
from oms.core.parsing import COMMON_FIELDS, declared_fields, is_internal

TOPICS = ["orders", "executions", "quote-requests", "quotes", "instruments", "books", "limits"]


@pytest.fixture
def schema(viewer: APIClient) -> dict[str, Any]:
    response = viewer.get("/api/schema")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def _component(schema: dict[str, Any], ref: str) -> dict[str, Any]:
    return schema["components"]["schemas"][ref.rsplit("/", 1)[1]]


def test_one_command_path_per_topic_with_its_own_commands(schema: dict[str, Any]) -> None:
    assert "/api/commands/{topic}" not in schema["paths"]
    for topic in TOPICS:
        body = schema["paths"][f"/api/commands/{topic}"]["post"]["requestBody"]
        union = _component(schema, body["content"]["application/json"]["schema"]["$ref"])
        mapping = union["discriminator"]["mapping"]
        assert union["discriminator"]["propertyName"] == "commandType"
        sent_over_http = {t for t in bus.command_types(topic) if not is_internal(t)}
        assert set(mapping) == sent_over_http, topic
        assert sorted(r["$ref"] for r in union["oneOf"]) == sorted(mapping.values())
        for command_type, ref in mapping.items():
            assert _component(schema, ref)["properties"]["commandType"]["$ref"].endswith(
                f"{command_type}CommandTypeEnum"
            )


def test_internal_commands_are_not_in_the_schema(schema: dict[str, Any]) -> None:
    mappings = [
        schema["components"]["schemas"][name]["discriminator"]["mapping"]
        for name in ("OrdersCommand", "ExecutionsCommand", "QuoteRequestsCommand", "QuotesCommand")
    ]
    for mapping in mappings:
        assert "None" not in mapping and "ExpireQuoteCommand" not in mapping
        assert "ExpireQuoteRequestCommand" not in mapping
    assert "ExpireOrderCommand" in mappings[0]  # the venue's report: the desk enters it


def test_each_command_documents_exactly_its_declared_fields(schema: dict[str, Any]) -> None:
    for topic in TOPICS:
        for command_type in bus.command_types(topic):
            if is_internal(command_type):
                continue
            properties = schema["components"]["schemas"][command_type]["properties"]
            assert set(properties) == set(declared_fields(command_type) or ()), command_type
            assert COMMON_FIELDS <= set(properties)


def test_required_fields_are_what_the_server_requires(schema: dict[str, Any]) -> None:
    components = schema["components"]["schemas"]
    assert set(components["CreateOrderCommand"]["required"]) == {
        "commandType",
        "clOrdID",
        "symbol",
        "side",
        "orderQty",
        "ordType",
        "account",
    }
    assert set(components["CancelOrderCommand"]["required"]) == {"commandType", "orderId", "clOrdID"}
    assert set(components["AllocateExecutionCommand"]["required"]) == {"commandType", "executionId"}
    assert set(components["AcceptQuoteCommand"]["required"]) == {"commandType", "quoteId"}


def test_decimals_and_identifiers_carry_their_patterns_and_lengths(schema: dict[str, Any]) -> None:
    create = schema["components"]["schemas"]["CreateOrderCommand"]["properties"]
    assert create["orderQty"]["pattern"] == r"^-?[0-9]+(\.[0-9]+)?$"
    assert create["price"]["pattern"] == r"^-?[0-9]+(\.[0-9]+)?$" and create["price"]["nullable"]
    assert create["clOrdID"]["maxLength"] == 64 and create["clOrdID"]["pattern"].startswith("^")
    assert create["text"]["maxLength"] == 1000
    header = next(
        p
        for p in schema["paths"]["/api/commands/orders"]["post"]["parameters"]
        if p["name"] == "Idempotency-Key"
    )
    assert header["in"] == "header" and header["schema"]["maxLength"] == 255


@pytest.mark.parametrize(
    ("component", "nullable", "not_nullable"),
    [
        (
            "OrderState",
            {
                "price",
                "stopPx",
                "parentId",
                "venue",
                "text",
                "origClOrdID",
                "expireTime",
                "allocatedQty",
                "pending",
            },
            {"orderId", "clOrdID", "orderQty", "cumQty", "status", "symbol"},
        ),
        ("ExecutionState", {"clientOrderId", "text"}, {"executionId", "orderId", "lastQty", "status"}),
        ("QuoteRequestState", {"validUntilTime", "acceptedQuoteId", "orderId", "text"}, {"quoteReqID"}),
        ("QuoteState", {"bidPx", "offerPx", "orderId", "acceptedPx", "text"}, {"quoteId", "status"}),
    ],
)
def test_documents_are_nullable_where_the_server_answers_null(
    schema: dict[str, Any], component: str, nullable: set[str], not_nullable: set[str]
) -> None:
    doc = schema["components"]["schemas"][component]
    for name in nullable:
        assert doc["properties"][name].get("nullable") is True, name
    for name in not_nullable:
        assert not doc["properties"][name].get("nullable"), name
    assert set(doc["required"]) == set(doc["properties"])  # every key is always present


def test_every_operation_documents_its_errors_in_the_error_shape(schema: dict[str, Any]) -> None:
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            codes = {"400", "401", "403"}
            if "{" in path:
                codes.add("404")
            if path.startswith("/api/commands/"):
                codes |= {"404", "409", "413", "422"}
            assert codes <= set(operation["responses"]), (method, path)
            for code in codes:
                content = operation["responses"][code]["content"]["application/json"]["schema"]
                assert content == {"$ref": "#/components/schemas/Error"}, (path, code)
    error = schema["components"]["schemas"]["ErrorDetail"]
    assert set(error["required"]) == {"code", "message", "fields"}


def test_object_event_lists_are_documented_as_pages(schema: dict[str, Any]) -> None:
    for path in ("/api/queries/orders/{order_id}/events", "/api/queries/quotes/{quote_id}/events"):
        ok = schema["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert ok == {"$ref": "#/components/schemas/EventPage"}


def test_the_event_feed_documents_every_topic_it_serves(schema: dict[str, Any]) -> None:

    assert set(schema["components"]["schemas"]["TopicEnum"]["enum"]) == set(eventfeed.topics())
