"""The read side from the registry: every registered aggregate gets the same list, detail and events
queries (and a tree where it has one), and a new aggregate gets them by registering, nothing else."""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
from collections.abc import Iterator
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from django.db import connection, models, transaction
from django.test.utils import isolate_apps
from django.urls import include, path
from rest_framework.test import APIClient

from oms.api.urls import query_urls
from oms.core import eventstore, readside
from oms.core.eventstore import (
    AggregateType,
    CommandContext,
    UnitOfWork,
    aggregate_types,
)
from oms.core.fold import Envelope, event_applier
from oms.core.models import EventRecord
from oms.core.readside import read_sides
from oms.core.specification import Field, Specification
from oms.orders.enums import OrdStatus
from tests.test_api_commands import assert_error

REGISTERED = {r.path: r for r in read_sides()}


# --- the four aggregates of today, through the one generic view set ----------------------------


def test_the_domains_register_their_read_side() -> None:
    assert set(REGISTERED) == {
        "orders",
        "executions",
        "quote-requests",
        "quotes",
        "instruments",
        "limits",
        "refusals",
        "venues",
        "controls",
        "cancel-alls",
        "rules",
        "positions",
        "discrepancies",
        "reconciliation-runs",
    }
    assert {r.path: r.id_field for r in read_sides()} == {
        "orders": "order_id",
        "executions": "execution_id",
        "quote-requests": "quote_request_id",
        "quotes": "quote_id",
        "instruments": "instrument_id",
        "limits": "limit_id",
        "refusals": "refusal_id",
        "venues": "venue_id",
        "controls": "control_id",
        "cancel-alls": "cancel_all_id",
        "rules": "rule_id",
        "positions": "position_id",
        "discrepancies": "discrepancy_id",
        "reconciliation-runs": "run_id",
    }
    assert [r.path for r in read_sides() if r.tree is not None] == ["orders"]
    # no aggregate without its queries, and none documented only as a free-form object: each
    # declares its document once (oms.core.documents), from which its schema is generated
    assert {r.name for r in read_sides()} == {a.name for a in aggregate_types()}
    assert [a.name for a in aggregate_types() if a.document is None] == []


@pytest.mark.parametrize("path", sorted(REGISTERED))
@pytest.mark.parametrize("suffix", ["", "/events"])
def test_every_detail_and_events_of_an_unknown_id_is_404(viewer: APIClient, path: str, suffix: str) -> None:
    response = viewer.get(f"/api/queries/{path}/no-such-id{suffix}")
    assert_error(response.status_code, response.json(), 404, "not_found")
    assert REGISTERED[path].label in response.json()["error"]["message"]


def test_the_filters_are_documented_from_the_specification(viewer: APIClient) -> None:
    schema = yaml.safe_load(viewer.get("/api/schema").content)
    params = {p["name"]: p for p in schema["paths"]["/api/queries/orders"]["get"]["parameters"]}
    # a choice criterion documents its enum (comma-separated list of them), from the domain's enum
    assert sorted(params["status"]["schema"]["items"]["enum"]) == sorted(s.value for s in OrdStatus)
    assert params["status"]["explode"] is False
    assert params["handling"]["schema"]["enum"] == ["Auto", "Desk"]
    assert params["updatedAfter"]["schema"]["format"] == "date-time"
    assert "orderQty" in params["ordering"]["description"]


# --- a new aggregate: registered in the test, served by the same views ---------------------------


@dataclasses.dataclass
class WidgetState:
    widget_id: str
    color: str
    size: Decimal
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


def _created(env: Envelope) -> WidgetState:
    d = env.data
    return WidgetState(env.aggregate_id, d["color"], Decimal(d["size"]), 0, env.recorded_at, env.recorded_at)


def _repainted(s: WidgetState, data: dict[str, Any]) -> None:
    s.color = data["color"]


def _to_api(s: WidgetState) -> dict[str, Any]:
    return {
        "widgetId": s.widget_id,
        "color": s.color,
        "size": format(s.size.normalize(), "f"),  # the same string from the event and the row
        "version": s.version,
        "createdAt": s.created_at.isoformat(),
        "updatedAt": s.updated_at.isoformat(),
    }


def _to_row(s: WidgetState, doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "widget_id": s.widget_id,
        "color": s.color,
        "size": s.size,
        "version": s.version,
        "created_at": s.created_at,
        "updated_at": s.updated_at,
    }


def _from_row(row: Any) -> WidgetState:
    # the widget keeps no `doc` column: the read side documents its rows through this and `to_api`
    return WidgetState(row.widget_id, row.color, row.size, row.version, row.created_at, row.updated_at)


class WidgetSpecification(Specification):
    fields = {
        "color": Field("color", "in", help="Colours."),
        "size_over": Field("size", "gt", param="sizeOver", kind="decimal"),
    }
    orderings = {"size": "size", "createdAt": "created_at", "widgetId": "widget_id"}
    default_ordering = ("-created_at", "-widget_id")
    id_column = "widget_id"


@pytest.fixture
def widgets(transactional_db: Any, monkeypatch: pytest.MonkeyPatch, settings: Any) -> Iterator[Any]:
    """A widget aggregate with tables of its own, registered with the event store and the read side
    for this test only, and an URLconf generated from that registration alone."""
    with isolate_apps("oms.core"):

        class Widget(models.Model):
            widget_id = models.CharField(max_length=64, primary_key=True)
            color = models.CharField(max_length=16)
            size = models.DecimalField(max_digits=20, decimal_places=4)
            version = models.PositiveIntegerField()
            created_at = models.DateTimeField()
            updated_at = models.DateTimeField()

            class Meta:
                app_label = "core"
                db_table = "test_widgets"

            def __str__(self) -> str:
                return self.widget_id

        class WidgetEvent(EventRecord):
            class Meta(EventRecord.Meta):
                app_label = "core"
                db_table = "test_widget_events"

    with connection.schema_editor() as editor:
        editor.create_model(Widget)
        editor.create_model(WidgetEvent)
    agg: AggregateType[WidgetState] = AggregateType(
        name="widget",
        topic="widget-events",
        state_model=Widget,
        event_model=WidgetEvent,
        apply=event_applier("WidgetCreated", _created, {"WidgetRepainted": _repainted}),
        to_api=_to_api,
        row_writer=_to_row,
        from_row=_from_row,
    )
    monkeypatch.setitem(eventstore._REGISTRY, agg.name, agg)
    monkeypatch.setattr(readside, "_READ", dict(readside._READ))
    read = readside.register_read(agg, path="widgets", specification=WidgetSpecification)
    # this module is the URLconf: the widget's query URLs, generated from its registration alone
    urlpatterns = [path("api/", include(query_urls([read])))]
    monkeypatch.setattr(sys.modules[__name__], "urlpatterns", urlpatterns, raising=False)
    settings.ROOT_URLCONF = __name__
    try:
        yield SimpleNamespace(agg=agg, read=read, model=Widget)
    finally:
        with connection.schema_editor() as editor:
            editor.delete_model(WidgetEvent)
            editor.delete_model(Widget)


def _write(agg: AggregateType[WidgetState], widget_id: str, *events: tuple[str, dict[str, Any]]) -> None:
    with transaction.atomic():
        uow = UnitOfWork(CommandContext(actor="tester", command={"commandType": "TestWidgetCommand"}))
        state = None
        for event_type, data in events:
            state = uow.emit(agg, widget_id, state, event_type, data)
        uow.commit()


def test_a_registered_aggregate_gets_list_detail_and_events(widgets: Any, viewer_user: Any) -> None:
    client = APIClient()
    client.force_authenticate(viewer_user)
    _write(widgets.agg, "W1", ("WidgetCreated", {"color": "red", "size": "1.5"}))
    _write(
        widgets.agg,
        "W2",
        ("WidgetCreated", {"color": "blue", "size": "3"}),
        ("WidgetRepainted", {"color": "green"}),
    )
    _write(widgets.agg, "W3", ("WidgetCreated", {"color": "red", "size": "10"}))

    page = client.get("/api/queries/widgets").json()
    assert set(page) == {"count", "next", "previous", "results"}
    assert page["count"] == 3 and [w["widgetId"] for w in page["results"]] == ["W3", "W2", "W1"]
    assert page["results"][1] == {**page["results"][1], "color": "green", "version": 2, "size": "3"}

    red = client.get("/api/queries/widgets", {"color": "red,green", "ordering": "size"}).json()
    assert [w["widgetId"] for w in red["results"]] == ["W1", "W2", "W3"]
    big = client.get("/api/queries/widgets", {"sizeOver": "2", "limit": 1}).json()
    assert big["count"] == 2 and [w["widgetId"] for w in big["results"]] == ["W3"] and big["next"]

    detail = client.get("/api/queries/widgets/W2").json()
    assert detail["widgetId"] == "W2" and detail["color"] == "green"
    events = client.get("/api/queries/widgets/W2/events").json()
    assert [e["type"] for e in events["results"]] == ["WidgetCreated", "WidgetRepainted"]
    assert {e["topic"] for e in events["results"]} == {"widget-events"}
    assert events["results"][-1]["state"] == detail
    beyond = client.get("/api/queries/widgets/W2/events", {"offset": 5})
    assert beyond.status_code == 200 and beyond.json()["count"] == 2 and beyond.json()["results"] == []

    for url in ("/api/queries/widgets/W9", "/api/queries/widgets/W9/events"):
        response = client.get(url)
        assert_error(response.status_code, response.json(), 404, "not_found")
    assert client.get("/api/queries/widgets/W1/tree").status_code == 404  # no tree registered
    for params in ({"sizeOver": "big"}, {"ordering": "color"}, {"limit": "0"}):
        response = client.get("/api/queries/widgets", params)
        assert_error(response.status_code, response.json(), 400, "validation_failed", next(iter(params)))
