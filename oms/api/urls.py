from __future__ import annotations

from django.urls import path, register_converter
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from oms.api import views


class IdConverter:
    """An opaque id in a path: any characters but '/' and NUL (which PostgreSQL cannot compare)."""

    regex = "[^/\x00]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(IdConverter, "id")

urlpatterns = [
    path("commands/<id:topic>", views.CommandView.as_view(), name="commands"),
    path("queries/orders", views.OrderListView.as_view(), name="orders"),
    path("queries/orders/<id:order_id>", views.OrderDetailView.as_view(), name="order"),
    path("queries/orders/<id:order_id>/events", views.OrderEventsView.as_view(), name="order-events"),
    path("queries/orders/<id:order_id>/tree", views.OrderTreeView.as_view(), name="order-tree"),
    path("queries/executions", views.ExecutionListView.as_view(), name="executions"),
    path("queries/executions/<id:execution_id>", views.ExecutionDetailView.as_view(), name="execution"),
    path(
        "queries/executions/<id:execution_id>/events",
        views.ExecutionEventsView.as_view(),
        name="execution-events",
    ),
    path("queries/quote-requests", views.QuoteRequestListView.as_view(), name="quote-requests"),
    path(
        "queries/quote-requests/<id:quote_request_id>",
        views.QuoteRequestDetailView.as_view(),
        name="quote-request",
    ),
    path(
        "queries/quote-requests/<id:quote_request_id>/events",
        views.QuoteRequestEventsView.as_view(),
        name="quote-request-events",
    ),
    path("queries/quotes", views.QuoteListView.as_view(), name="quotes"),
    path("queries/quotes/<id:quote_id>", views.QuoteDetailView.as_view(), name="quote"),
    path("queries/quotes/<id:quote_id>/events", views.QuoteEventsView.as_view(), name="quote-events"),
    path("queries/events", views.EventFeedView.as_view(), name="events"),
    path("schema", SpectacularAPIView.as_view(), name="schema"),
    path("docs", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
]
