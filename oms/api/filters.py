"""django-filter FilterSets over the specification builder.

The FilterSet declares the contract's query parameters (validated by its form and documented in
the OpenAPI schema); the query itself is built by the domain's Specification, the same one the
query service and the blotter use, so a filter means the same thing everywhere.
"""

from __future__ import annotations

from typing import Any

import django_filters as df
from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend

from executions.selectors import ExecutionSpecification
from oms.core.specification import Specification
from oms.orders.selectors import OrderSpecification
from oms.quotes.selectors import QuoteRequestSpecification, QuoteSpecification


class SpecificationFilterBackend(DjangoFilterBackend):
    """django-filter declares and documents the parameters; the Specification parses and filters.

    Running django-filter's form on every request cost about 3 ms (it deep-copies every filter
    to build the form class); the Specification already validates each parameter and answers
    per-field errors, so the request path goes straight to it.
    """

    # request: DRF's Request (django-filter's stubs say HttpRequest, which has no query_params)
    def filter_queryset(self, request: Any, queryset: QuerySet[Any], view: Any) -> QuerySet[Any]:
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is None or not issubclass(filterset_class, SpecFilterSet):
            return super().filter_queryset(request, queryset, view)
        return filterset_class.spec_class.from_params(request.query_params).apply(queryset)


class CharInFilter(df.BaseInFilter, df.CharFilter):
    """Comma-separated values: `status=New,PartiallyFilled`."""


class SpecFilterSet(df.FilterSet):
    spec_class: type[Specification] = Specification

    def specification(self) -> Specification:
        return self.spec_class.from_params(self.data or {})  # the query string; unbound: none

    def filter_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return self.specification().apply(queryset)


def _choices_help(values: list[str]) -> str:
    return "One or more of (comma-separated): " + ", ".join(values)


class OrderFilter(SpecFilterSet):
    spec_class = OrderSpecification
    orderId = CharInFilter(help_text="Order ids, comma-separated")
    clOrdID = df.CharFilter()
    status = CharInFilter(
        help_text=_choices_help(
            [
                "PendingNew",
                "New",
                "PartiallyFilled",
                "Filled",
                "DoneForDay",
                "Canceled",
                "PendingCancel",
                "PendingReplace",
                "Rejected",
                "Expired",
            ]
        )
    )
    symbol = CharInFilter(help_text="One or more symbols, comma-separated")
    side = CharInFilter(help_text=_choices_help(["Buy", "Sell", "SellShort"]))
    account = CharInFilter()
    venue = CharInFilter()
    kind = CharInFilter(help_text=_choices_help(["Client", "Market", "Slice"]))
    rootId = df.CharFilter()
    parentId = df.CharFilter()
    handling = df.CharFilter(help_text="Auto or Desk")
    updatedAfter = df.IsoDateTimeFilter()
    createdAfter = df.IsoDateTimeFilter()
    ordering = df.CharFilter(
        help_text="Comma-separated fields, '-' for descending: " + ", ".join(OrderSpecification.orderings)
    )


class ExecutionFilter(SpecFilterSet):
    spec_class = ExecutionSpecification
    orderId = df.CharFilter()
    clientOrderId = df.CharFilter()
    status = CharInFilter(
        help_text=_choices_help(["Allocated", "Applied", "PendingReview", "Rejected", "Busted"])
    )
    execID = df.CharFilter()
    venue = CharInFilter()
    updatedAfter = df.IsoDateTimeFilter()
    ordering = df.CharFilter(
        help_text="Comma-separated fields, '-' for descending: " + ", ".join(ExecutionSpecification.orderings)
    )


class QuoteRequestFilter(SpecFilterSet):
    spec_class = QuoteRequestSpecification
    quoteRequestId = CharInFilter(help_text="Quote request ids, comma-separated")
    quoteReqID = df.CharFilter()
    status = CharInFilter(
        help_text=_choices_help(["Open", "Quoted", "Accepted", "Canceled", "Rejected", "Expired"])
    )
    symbol = CharInFilter(help_text="One or more symbols, comma-separated")
    side = CharInFilter(help_text=_choices_help(["Buy", "Sell", "SellShort"]))
    account = CharInFilter()
    updatedAfter = df.IsoDateTimeFilter()
    ordering = df.CharFilter(
        help_text="Comma-separated fields, '-' for descending: "
        + ", ".join(QuoteRequestSpecification.orderings)
    )


class QuoteFilter(SpecFilterSet):
    spec_class = QuoteSpecification
    quoteId = CharInFilter(help_text="Quote ids, comma-separated")
    quoteID = df.CharFilter()
    quoteRequestId = df.CharFilter()
    quoteReqID = df.CharFilter()
    status = CharInFilter(help_text=_choices_help(["Active", "Accepted", "Rejected", "Canceled", "Expired"]))
    symbol = CharInFilter(help_text="One or more symbols, comma-separated")
    updatedAfter = df.IsoDateTimeFilter()
    ordering = df.CharFilter(
        help_text="Comma-separated fields, '-' for descending: " + ", ".join(QuoteSpecification.orderings)
    )
