"""Serializers that document the contract in the OpenAPI schema (/api/schema, /api/docs).

They describe; they do not parse. Commands are parsed by the domain (oms/*/commands.py) and
state is returned as the stored document, so the hot paths pay nothing for DRF serializers.
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

from rest_framework import serializers as s

from executions.state import EXECUTION_DOCUMENT
from oms.api.command_schema import COMMAND_SERIALIZERS
from oms.api.schema_base import document_serializer, serializer_of, state_serializer
from oms.core.eventstore import aggregate_types
from oms.orders.document import ORDER_DOCUMENT
from oms.quotes.state import QUOTE_DOCUMENT, QUOTE_REQUEST_DOCUMENT

# --- documents the server answers: every key always present, null where the state has none ----
# each aggregate's document is declared once by its domain (oms.core.documents): the schema here
# is generated from that declaration, as the encoder is

ORDER_STATE = state_serializer(ORDER_DOCUMENT)
EXECUTION_STATE = state_serializer(EXECUTION_DOCUMENT)
QUOTE_REQUEST_STATE = state_serializer(QUOTE_REQUEST_DOCUMENT)
QUOTE_STATE = state_serializer(QUOTE_DOCUMENT)

EVENT = serializer_of(
    "Event",
    {
        "seq": s.IntegerField(),
        # every event topic, from the aggregates registered with the event store (each domain's
        # repository registers at app load, before any URLconf imports this)
        "topic": s.ChoiceField(sorted({agg.topic for agg in aggregate_types()})),
        "type": s.CharField(),
        "aggregateId": s.CharField(),
        "version": s.IntegerField(),
        "data": s.DictField(),
        "command": s.DictField(),
        "state": s.DictField(),
        "actor": s.CharField(),
        "correlationId": s.CharField(),
        "occurredAt": s.DateTimeField(),
        "recordedAt": s.DateTimeField(),
    },
)


def _page(name: str, item: type[s.Serializer[Any]]) -> type[s.Serializer[Any]]:
    return serializer_of(
        name,
        {
            "count": s.IntegerField(),
            "next": s.URLField(allow_null=True),
            "previous": s.URLField(allow_null=True),
            "results": item(many=True),
        },
    )


EVENT_PAGE = _page("EventPage", EVENT)  # the event feed and each object's events

ORDER_TREE = document_serializer(
    ORDER_DOCUMENT,
    "OrderTree",
    {"children": s.ListField(child=s.DictField(), help_text="child orders, each an OrderTree")},
)

COMMAND_RESPONSE = serializer_of(
    "CommandResponse",
    {
        "order": ORDER_STATE(required=False),
        "execution": EXECUTION_STATE(required=False),
        "quoteRequest": QUOTE_REQUEST_STATE(required=False),
        "quote": QUOTE_STATE(required=False),
        "closedQuotes": QUOTE_STATE(many=True, required=False),
        "duplicate": s.BooleanField(),
        "events": EVENT(many=True),
    },
)

# --- errors: every 4xx in the contract's shape ------------------------------------------------------

ERROR_DETAIL = serializer_of(
    "ErrorDetail",
    {
        "code": s.CharField(help_text="stable snake_case code, e.g. validation_failed, not_found"),
        "message": s.CharField(),
        "fields": s.DictField(child=s.ListField(child=s.CharField()), help_text="messages per field"),
    },
)
ERROR = serializer_of("Error", {"error": ERROR_DETAIL()})

_ERRORS = {
    "400": "validation_failed: malformed or invalid fields or query parameters",
    "401": "not_authenticated / authentication_failed",
    "403": "permission_denied: the user's role may not do this",
    "404": "not_found: no such object",
    "409": "invalid_transition, version_conflict, replace_pending, duplicate_cl_ord_id, exceeds_parent_quantity, duplicate_rule_name, venue_reports_only",
    "413": "payload_too_large: the body is over the limit (DATA_UPLOAD_MAX_MEMORY_SIZE)",
    "415": "unsupported_media_type: commands are JSON",
    "422": "rule_refused (with the rule's name), idempotency_key_reused",
}


def _error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def split_command_paths(result: dict[str, Any], generator: Any, **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: the exact schema of the running API.

    - `/api/commands/{topic}` becomes one path per topic, each with its commands only (a
      discriminator on `commandType` mapping every command type to its schema);
    - every operation documents its 4xx answers in the error shape: 400, 401, 403 everywhere, 404
      where a path names an object, and 404, 409, 413, 415, 422 for commands.
    """
    paths = result.get("paths", {})
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    generic = paths.pop("/api/commands/{topic}", None)
    if generic is not None:
        operation = generic["post"]
        operation["parameters"] = [p for p in operation.get("parameters", []) if p.get("name") != "topic"]
        for topic, by_type in COMMAND_SERIALIZERS.items():
            op = deepcopy(operation)
            name = "".join(part.title() for part in topic.split("-"))
            op["operationId"] = f"commands_{topic.replace('-', '_')}"
            op["summary"] = f"Send a command on {topic}"
            refs = {t: f"#/components/schemas/{t}" for t in by_type}
            body_schema = {
                "oneOf": [{"$ref": ref} for ref in refs.values()],
                "discriminator": {"propertyName": "commandType", "mapping": refs},
            }
            schemas[f"{name}Command"] = body_schema
            op["requestBody"] = {
                "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}Command"}}},
                "required": True,
            }
            paths[f"/api/commands/{topic}"] = {"post": op}
        schemas.pop("Command", None)
    for path, item in paths.items():
        for method, op in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            codes = ["400", "401", "403"]
            if "{" in path:
                codes.append("404")
            if path.startswith("/api/commands/"):
                codes += ["404", "409", "413", "415", "422"]
            responses = op.setdefault("responses", {})
            for code in codes:
                responses.setdefault(code, _error_response(_ERRORS[code]))
    return result
