"""The command API and the query API (ARCHITECTURE.md Part A). Views stay thin: commands go to
`dispatch`; the query views are generated from the read-side registry (`oms.core.readside`), one
set per registered aggregate; JSON is the stored state document, returned as is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.generics import GenericAPIView, ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer
from rest_framework.views import APIView

from oms.api.command_schema import COMMAND_REQUEST
from oms.api.filters import SpecificationFilterBackend, filterset_for
from oms.api.pagination import int_param
from oms.api.parsers import CommandJSONParser
from oms.api.schema import (
    COMMAND_RESPONSE,
    ERROR,
    EVENT_PAGE,
    ORDER_TREE,
)
from oms.api.schema_base import state_serializer
from oms.core import eventfeed
from oms.core.dispatch import dispatch
from oms.core.errors import ValidationFailed
from oms.core.eventfeed import event_to_api
from oms.core.readside import ReadSide


class CommandView(APIView):
    """POST /api/commands/<type>: one command, answered with the new state and the events appended."""

    parser_classes = [CommandJSONParser]

    @extend_schema(
        request=COMMAND_REQUEST,
        # one path per topic in the schema (oms.api.schema.split_command_paths); 4xx in the
        # error shape
        responses={200: COMMAND_RESPONSE, 201: COMMAND_RESPONSE, 400: ERROR},
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                {"type": "string", "minLength": 1, "maxLength": 255},
                OpenApiParameter.HEADER,
                description="Repeat-safe key (1 to 255 chars): a repeat returns the first response; "
                "the same key with another body is a 422 idempotency_key_reused.",
            ),
            OpenApiParameter(
                "X-Correlation-ID",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="Carried on every event the command appends.",
            ),
        ],
    )
    def post(self, request: Request, topic: str) -> Response:
        correlation = request.headers.get("X-Correlation-ID")
        result = dispatch(
            topic,
            request.data,
            actor=request.user.get_username(),
            correlation_id=correlation[:64] if correlation else None,
            idempotency_key=request.headers.get("Idempotency-Key"),
            external=True,
        )
        return Response(result.body, status=result.status_code)


# --- the query views, generated from the read-side registry -------------------------------------

TREE_SCHEMAS: dict[str, type[Serializer[Any]]] = {"order": ORDER_TREE}


class _DocListView(ListAPIView[Any]):
    # a filtered, paginated list answering the stored state documents as they are; a ListAPIView
    # (its `serializer_class` is for the schema only) so the OpenAPI schema documents it as a
    # list: its filter parameters, limit/offset and the paginated response shape
    read: ReadSide
    filter_backends = [SpecificationFilterBackend]

    def get_queryset(self) -> QuerySet[Any]:
        return self.read.all()

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(self.read.rows(queryset))
        return self.get_paginated_response(self.read.documents(page or []))


class _EventsView(GenericAPIView[Any]):
    read: ReadSide
    serializer_class = EVENT_PAGE
    filter_backends: list[Any] = []

    def events_page(self, object_id: str) -> Response:
        page = self.paginate_queryset(self.read.events(object_id))
        if not page and getattr(self.paginator, "count", None) in (0, None):
            self.read.require(object_id)  # no events at all: an unknown id is a 404
        return self.get_paginated_response([event_to_api(e, self.read.aggregate.topic) for e in page or []])


@dataclass(frozen=True)
class QueryViews:
    """The views of one aggregate: /api/queries/<path>, /<id>, /<id>/events and /<id>/tree."""

    read: ReadSide
    list: type[APIView]
    detail: type[APIView]
    events: type[APIView]
    tree: type[APIView] | None


def _camel(name: str) -> str:
    return "".join(part.title() for part in name.split("_"))


def _document_schema(read: ReadSide) -> type[Serializer[Any]]:
    """The component generated from the aggregate's declared document (`AggregateType.document`);
    an aggregate that declares none is documented as a free-form object."""
    if read.aggregate.document is not None:
        return state_serializer(read.aggregate.document)
    return type(
        f"{_camel(read.name)}State", (Serializer,), {"__doc__": f"A {read.label} as the API shows it."}
    )


def query_views(read: ReadSide) -> QueryViews:
    """Generate the query views of one registered aggregate (the URLs: `oms.api.urls.query_urls`).

    The list takes the specification's filters and `ordering` plus limit/offset; detail, events
    and tree answer 404 `not_found` for an unknown id. Class names and the schema's operation
    ids follow from the aggregate's name and path, as they were when the views were written by
    hand (`queries_orders_list`, `queries_orders_retrieve`, `queries_orders_events_list`, ...).
    """
    doc_schema = _document_schema(read)
    camel = _camel(read.name)
    plural = read.path.replace("-", " ")

    list_view = type(
        f"{camel}ListView",
        (_DocListView,),
        {
            "__doc__": f"GET /api/queries/{read.path}: {plural} matching the filters, newest first "
            "unless `ordering` says.",
            "read": read,
            "filterset_class": filterset_for(read.specification),  # type: ignore[arg-type]  # a class is hashable; mypy checks the frozen dataclass's instance __hash__ against Hashable
            "serializer_class": doc_schema,
        },
    )

    @extend_schema(responses=doc_schema)
    def get_detail(self: APIView, request: Request, **kwargs: str) -> Response:
        return Response(read.get(kwargs[read.id_field]))

    @extend_schema(responses=EVENT_PAGE)
    def get_events(self: _EventsView, request: Request, **kwargs: str) -> Response:
        return self.events_page(kwargs[read.id_field])

    detail_view = type(f"{camel}DetailView", (APIView,), {"get": get_detail})
    events_view = type(f"{camel}EventsView", (_EventsView,), {"read": read, "get": get_events})
    tree_view = None
    if read.tree is not None:

        @extend_schema(responses=TREE_SCHEMAS.get(read.name, doc_schema))
        def get_tree(self: APIView, request: Request, **kwargs: str) -> Response:
            return Response(read.get_tree(kwargs[read.id_field]))

        tree_view = type(f"{camel}TreeView", (APIView,), {"get": get_tree})
    return QueryViews(read, list_view, detail_view, events_view, tree_view)


class EventFeedView(APIView):
    """GET /api/queries/events?afterSeq=&limit=&topic=: the global event feed in seq order.

    Events commit in seq order (see EventSequence), so a reader that resumes after the last seq
    it saw never skips one. `next` is the URL of the following page.
    """

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "afterSeq", OpenApiTypes.INT, description="Return events with seq greater than this."
            ),
            OpenApiParameter("limit", OpenApiTypes.INT, description="1..1000, default 100."),
            OpenApiParameter("topic", OpenApiTypes.STR, description="Topics, comma-separated."),
        ],
        responses=EVENT_PAGE,
    )
    def get(self, request: Request) -> Response:
        after = int_param(request.query_params, "afterSeq", 0, 0, 2**62)
        limit = int_param(request.query_params, "limit", 100, 1, 1000)
        topics = [t.strip() for t in request.query_params.get("topic", "").split(",") if t.strip()]
        known = eventfeed.topics()
        unknown = [t for t in topics if t not in known]
        if unknown:
            raise ValidationFailed(
                "unknown topic",
                fields={"topic": [f"'{t}' is not one of: {', '.join(known)}." for t in unknown]},
            )
        events = eventfeed.events_after(after, limit, topics or None)
        next_url = None
        if len(events) == limit:
            params = request.query_params.copy()
            params["afterSeq"] = str(events[-1]["seq"])
            next_url = request.build_absolute_uri(request.path + "?" + params.urlencode())
        return Response(
            {
                "count": eventfeed.count_events_after(after, topics or None),
                "next": next_url,
                "previous": None,
                "results": events,
            }
        )
