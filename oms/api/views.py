"""The command API and the query API (ARCHITECTURE.md Part A). Views stay thin: commands go to
`dispatch`, reads to the selectors; JSON is the stored state document, returned as is."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.generics import GenericAPIView, ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from executions import selectors as exec_selectors
from executions.models import Execution
from oms.api.filters import (
    ExecutionFilter,
    OrderFilter,
    QuoteFilter,
    QuoteRequestFilter,
    SpecificationFilterBackend,
)
from oms.api.pagination import int_param
from oms.api.parsers import CommandJSONParser
from oms.api.schema import (
    COMMAND_REQUEST,
    COMMAND_RESPONSE,
    EVENT,
    EVENT_PAGE,
    EXECUTION_STATE,
    ORDER_STATE,
    ORDER_TREE,
    QUOTE_REQUEST_STATE,
    QUOTE_STATE,
)
from oms.core import eventstore
from oms.core.dispatch import dispatch
from oms.core.errors import ValidationFailed
from oms.core.eventstore import event_to_api
from oms.orders import selectors as order_selectors
from oms.orders.models import Order
from oms.orders.repository import TOPIC as ORDER_TOPIC
from oms.quotes import selectors as quote_selectors
from oms.quotes.models import Quote, QuoteRequest
from oms.quotes.repository import QUOTE_TOPIC, REQUEST_TOPIC


class CommandView(APIView):
    """POST /api/commands/<type>: one command, answered with the new state and the events appended."""

    parser_classes = [CommandJSONParser]

    @extend_schema(
        request=COMMAND_REQUEST,
        responses={200: COMMAND_RESPONSE, 201: COMMAND_RESPONSE},
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="Repeat-safe key (<=255 chars): a repeat returns the first response.",
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
        )
        return Response(result.body, status=result.status_code)


class _DocListView(ListAPIView[Any]):
    # a filtered, paginated list answering the stored state documents as they are; a ListAPIView
    # (its `serializer_class` is for the schema only) so the OpenAPI schema documents it as a
    # list: its filter parameters, limit/offset and the paginated response shape
    filter_backends = [SpecificationFilterBackend]

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset.values_list("doc", flat=True))
        return self.get_paginated_response(list(page or []))


class OrderListView(_DocListView):
    """GET /api/queries/orders: orders matching the filters, newest first unless `ordering` says."""

    filterset_class = OrderFilter
    serializer_class = ORDER_STATE

    def get_queryset(self) -> QuerySet[Order]:
        return Order.objects.all()


class OrderDetailView(APIView):
    @extend_schema(responses=ORDER_STATE)
    def get(self, request: Request, order_id: str) -> Response:
        return Response(order_selectors.order_get(order_id))


class _EventPageMixin(GenericAPIView[Any]):
    topic = ""
    serializer_class = EVENT
    filter_backends: list[Any] = []

    def events_page(self, queryset: QuerySet[Any]) -> Response:
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response([event_to_api(e, self.topic) for e in page or []])


class OrderEventsView(_EventPageMixin):
    topic = ORDER_TOPIC

    @extend_schema(responses=EVENT(many=True))
    def get(self, request: Request, order_id: str) -> Response:
        return self.events_page(order_selectors.order_events(order_id))


class OrderTreeView(APIView):
    @extend_schema(responses=ORDER_TREE)
    def get(self, request: Request, order_id: str) -> Response:
        return Response(order_selectors.order_tree(order_id))


class ExecutionListView(_DocListView):
    """GET /api/queries/executions: executions matching the filters, newest first."""

    filterset_class = ExecutionFilter
    serializer_class = EXECUTION_STATE

    def get_queryset(self) -> QuerySet[Execution]:
        return Execution.objects.all()


class ExecutionDetailView(APIView):
    @extend_schema(responses=EXECUTION_STATE)
    def get(self, request: Request, execution_id: str) -> Response:
        return Response(exec_selectors.execution_get(execution_id))


class ExecutionEventsView(_EventPageMixin):
    topic = "execution-events"

    @extend_schema(responses=EVENT(many=True))
    def get(self, request: Request, execution_id: str) -> Response:
        return self.events_page(exec_selectors.execution_events(execution_id))


class QuoteRequestListView(_DocListView):
    """GET /api/queries/quote-requests: quote requests matching the filters, newest first."""

    filterset_class = QuoteRequestFilter
    serializer_class = QUOTE_REQUEST_STATE

    def get_queryset(self) -> QuerySet[QuoteRequest]:
        return QuoteRequest.objects.all()


class QuoteRequestDetailView(APIView):
    @extend_schema(responses=QUOTE_REQUEST_STATE)
    def get(self, request: Request, quote_request_id: str) -> Response:
        return Response(quote_selectors.quote_request_get(quote_request_id))


class QuoteRequestEventsView(_EventPageMixin):
    topic = REQUEST_TOPIC

    @extend_schema(responses=EVENT(many=True))
    def get(self, request: Request, quote_request_id: str) -> Response:
        return self.events_page(quote_selectors.quote_request_events(quote_request_id))


class QuoteListView(_DocListView):
    """GET /api/queries/quotes: quotes matching the filters, newest first."""

    filterset_class = QuoteFilter
    serializer_class = QUOTE_STATE

    def get_queryset(self) -> QuerySet[Quote]:
        return Quote.objects.all()


class QuoteDetailView(APIView):
    @extend_schema(responses=QUOTE_STATE)
    def get(self, request: Request, quote_id: str) -> Response:
        return Response(quote_selectors.quote_get(quote_id))


class QuoteEventsView(_EventPageMixin):
    topic = QUOTE_TOPIC

    @extend_schema(responses=EVENT(many=True))
    def get(self, request: Request, quote_id: str) -> Response:
        return self.events_page(quote_selectors.quote_events(quote_id))


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
        known = eventstore.topics()
        unknown = [t for t in topics if t not in known]
        if unknown:
            raise ValidationFailed(
                "unknown topic",
                fields={"topic": [f"'{t}' is not one of: {', '.join(known)}." for t in unknown]},
            )
        events = eventstore.events_after(after, limit, topics or None)
        next_url = None
        if len(events) == limit:
            params = request.query_params.copy()
            params["afterSeq"] = str(events[-1]["seq"])
            next_url = request.build_absolute_uri(request.path + "?" + params.urlencode())
        return Response(
            {
                "count": eventstore.count_events_after(after, topics or None),
                "next": next_url,
                "previous": None,
                "results": events,
            }
        )
