"""The query API over HTTP: every filter of the contract, pagination, detail, events, tree, the
global event feed, the JSON formats (decimal strings, UTC times), OpenAPI schema and Swagger UI."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import yaml
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

from tests.test_api_commands import assert_error, child, create, event_count, execute, ok, send

EVENT_KEYS = {
    "seq",
    "topic",
    "type",
    "aggregateId",
    "version",
    "command",
    "state",
    "actor",
    "correlationId",
    "occurredAt",
    "recordedAt",
}
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def get(client: APIClient, path: str, **params: Any) -> Any:
    response = client.get(path, params)
    assert response.status_code == 200, (response.status_code, response.content[:300])
    return response.json()


def ids(page: dict[str, Any], key: str = "orderId") -> list[str]:
    return [r[key] for r in page["results"]]


@pytest.fixture
def book(desk: APIClient) -> dict[str, Any]:
    """A small, varied book: three client orders, two market children, one fill, one cancel."""
    a = create(desk, symbol="AAA", side="Buy", account="ACC1", orderQty="100")
    b = create(desk, symbol="BBB", side="Sell", account="ACC2", orderQty="50", price="90")
    c = create(
        desk, symbol="CCC", side="SellShort", account="ACC1", orderQty="10", venue="XNYS", handling=None
    )
    m1 = child(desk, a["orderId"], qty="60")
    m2 = child(desk, a["orderId"], qty="40", accept=False, venue="XLON")
    status, fill = execute(desk, m1["orderId"], "20", "99.5")
    assert status == 201
    ok(
        desk,
        "orders",
        {"commandType": "CancelOrderCommand", "orderId": b["orderId"], "clOrdID": "CXL-" + b["clOrdID"]},
    )
    return {"a": a, "b": b, "c": c, "m1": m1, "m2": m2, "exec": fill["execution"]}


# --- orders -------------------------------------------------------------------------------------


def test_orders_list_is_paginated_and_newest_first(viewer: APIClient, book: dict[str, Any]) -> None:
    page = get(viewer, "/api/queries/orders")
    assert set(page) == {"count", "next", "previous", "results"}
    assert page["count"] == 5 and page["next"] is None and page["previous"] is None
    assert ids(page)[0] == book["m2"]["orderId"] and ids(page)[-1] == book["a"]["orderId"]


@pytest.mark.parametrize(
    ("params", "want"),
    [
        ({"symbol": "AAA"}, {"a", "m1", "m2"}),
        ({"symbol": "AAA,CCC"}, {"a", "m1", "m2", "c"}),
        ({"status": "Canceled"}, {"b"}),
        ({"status": "PendingNew,PartiallyFilled"}, {"m1", "m2", "a"}),
        ({"side": "SellShort"}, {"c"}),
        ({"side": "Sell,SellShort"}, {"b", "c"}),
        ({"account": "ACC2"}, {"b"}),
        ({"venue": "XLON"}, {"m2"}),
        ({"venue": "MANUAL,XNYS"}, {"m1", "c"}),
        ({"kind": "Market"}, {"m1", "m2"}),
        ({"kind": "Client"}, {"a", "b", "c"}),
        ({"handling": "Auto"}, {"c"}),
        ({"handling": "Desk", "kind": "Client"}, {"a", "b"}),
        ({"symbol": "AAA", "status": "New"}, set()),
    ],
)
def test_orders_filters(
    viewer: APIClient, book: dict[str, Any], params: dict[str, str], want: set[str]
) -> None:
    page = get(viewer, "/api/queries/orders", **params)
    assert sorted(ids(page)) == sorted(book[k]["orderId"] for k in want)
    assert page["count"] == len(want)


def test_orders_filter_by_ids(viewer: APIClient, book: dict[str, Any]) -> None:
    a, m1 = book["a"], book["m1"]
    assert ids(get(viewer, "/api/queries/orders", clOrdID=m1["clOrdID"])) == [m1["orderId"]]
    assert sorted(ids(get(viewer, "/api/queries/orders", rootId=a["orderId"]))) == sorted(
        [a["orderId"], m1["orderId"], book["m2"]["orderId"]]
    )
    assert sorted(ids(get(viewer, "/api/queries/orders", parentId=a["orderId"]))) == sorted(
        [m1["orderId"], book["m2"]["orderId"]]
    )
    assert get(viewer, "/api/queries/orders", clOrdID="no-such")["count"] == 0


def test_orders_updated_after(viewer: APIClient, book: dict[str, Any]) -> None:
    every = get(viewer, "/api/queries/orders")["results"]
    cutoff = get(viewer, f"/api/queries/orders/{book['c']['orderId']}")["updatedAt"]
    page = get(viewer, "/api/queries/orders", updatedAfter=cutoff)
    later = {o["orderId"] for o in every if o["updatedAt"] > cutoff}
    assert set(ids(page)) == later and book["c"]["orderId"] not in later
    assert book["b"]["orderId"] in later  # canceled after c was created
    assert get(viewer, "/api/queries/orders", updatedAfter="2000-01-01T00:00:00Z")["count"] == 5


def test_orders_ordering(viewer: APIClient, book: dict[str, Any]) -> None:
    qty = [Decimal(o["orderQty"]) for o in get(viewer, "/api/queries/orders", ordering="orderQty")["results"]]
    assert qty == sorted(qty) and qty[0] == 10
    down = [
        Decimal(o["orderQty"]) for o in get(viewer, "/api/queries/orders", ordering="-orderQty")["results"]
    ]
    assert down == sorted(qty, reverse=True)
    rows = get(viewer, "/api/queries/orders", ordering="symbol,-orderQty")["results"]
    assert [(o["symbol"], o["orderQty"]) for o in rows] == [
        ("AAA", "100"),
        ("AAA", "60"),
        ("AAA", "40"),
        ("BBB", "50"),
        ("CCC", "10"),
    ]


def test_orders_limit_offset(viewer: APIClient, book: dict[str, Any]) -> None:
    everything = ids(get(viewer, "/api/queries/orders"))
    first = get(viewer, "/api/queries/orders", limit=2)
    assert first["count"] == 5 and ids(first) == everything[:2] and first["previous"] is None
    assert parse_qs(urlparse(first["next"]).query) == {"limit": ["2"], "offset": ["2"]}
    second = viewer.get(first["next"]).json()
    assert ids(second) == everything[2:4] and second["previous"] is not None
    last = get(viewer, "/api/queries/orders", limit=2, offset=4)
    assert ids(last) == everything[4:] and last["next"] is None


@pytest.mark.parametrize(
    "params",
    [
        {"status": "Bogus"},
        {"status": "New,Bogus"},
        {"side": "Up"},
        {"kind": "Parent"},
        {"handling": "Robot"},
        {"ordering": "nope"},
        {"ordering": "-nope"},
        {"updatedAfter": "yesterday"},
        {"updatedAfter": "0001-01-01T00:00:00+01:00"},
        {"limit": "x"},
        {"limit": "0"},
        {"offset": "-1"},
        {"offset": str(10**30)},
        {"clOrdID": "a\x00b"},
    ],
)
def test_orders_bad_query_params_are_400(viewer: APIClient, params: dict[str, str]) -> None:
    response = viewer.get("/api/queries/orders", params)
    assert_error(response.status_code, response.json(), 400, "validation_failed", next(iter(params)))


def test_order_detail_events_and_tree(viewer: APIClient, book: dict[str, Any]) -> None:
    a, m1 = book["a"], book["m1"]
    detail = get(viewer, f"/api/queries/orders/{m1['orderId']}")
    assert detail["status"] == "PartiallyFilled" and detail["kind"] == "Market"
    assert (detail["orderQty"], detail["cumQty"], detail["leavesQty"], detail["avgPx"]) == (
        "60",
        "20",
        "40",
        "99.5",
    )
    assert detail["rootId"] == detail["parentId"] == a["orderId"] and detail["version"] == 3
    for key in ("orderQty", "cumQty", "leavesQty", "avgPx", "price"):
        assert isinstance(detail[key], str), key
    for key in ("createdAt", "updatedAt"):
        assert ISO_UTC.match(detail[key]), detail[key]

    events = get(viewer, f"/api/queries/orders/{m1['orderId']}/events")
    assert events["count"] == 3 and [e["version"] for e in events["results"]] == [1, 2, 3]
    assert [e["type"] for e in events["results"]] == ["OrderCreated", "OrderAccepted", "OrderFilled"]
    assert events["results"][-1]["state"] == detail
    page = get(viewer, f"/api/queries/orders/{m1['orderId']}/events", limit=1, offset=1)
    assert [e["type"] for e in page["results"]] == ["OrderAccepted"] and page["next"] and page["previous"]

    tree = get(viewer, f"/api/queries/orders/{a['orderId']}/tree")
    assert tree["orderId"] == a["orderId"] and tree["cumQty"] == "20"
    assert [c["orderId"] for c in tree["children"]] == [m1["orderId"], book["m2"]["orderId"]]
    assert all(c["children"] == [] for c in tree["children"])
    subtree = get(viewer, f"/api/queries/orders/{m1['orderId']}/tree")
    assert subtree["orderId"] == m1["orderId"] and subtree["children"] == []


@pytest.mark.parametrize("suffix", ["", "/events", "/tree"])
def test_unknown_order_is_404(viewer: APIClient, suffix: str) -> None:
    response = viewer.get(f"/api/queries/orders/nope{suffix}")
    assert_error(response.status_code, response.json(), 404, "not_found")


# --- executions ---------------------------------------------------------------------------------


def test_executions_filters_and_detail(desk: APIClient, viewer: APIClient, book: dict[str, Any]) -> None:
    m1, a, allocated = book["m1"], book["a"], book["exec"]
    status, held = execute(desk, m1["orderId"], "1000")  # an overfill: held for review
    assert status == 201 and held["execution"]["status"] == "PendingReview"
    held = held["execution"]
    assert "overfill" in held["reviewReasons"]
    everything = get(viewer, "/api/queries/executions")
    assert everything["count"] == 2 and ids(everything, "executionId") == [
        held["executionId"],
        allocated["executionId"],
    ]
    cases = [
        ({"orderId": m1["orderId"]}, [held, allocated]),
        ({"clientOrderId": a["orderId"]}, [allocated]),
        ({"status": "Allocated"}, [allocated]),
        ({"status": "PendingReview,Allocated"}, [held, allocated]),
        ({"execID": held["execID"]}, [held]),
        ({"venue": "MANUAL"}, [held, allocated]),
        ({"venue": "XNYS"}, []),
    ]
    for params, want in cases:
        page = get(viewer, "/api/queries/executions", **params)
        assert ids(page, "executionId") == [e["executionId"] for e in want], params
    detail = get(viewer, f"/api/queries/executions/{allocated['executionId']}")
    assert detail == allocated and detail["clientOrderId"] == a["orderId"]
    assert (detail["lastQty"], detail["lastPx"]) == ("20", "99.5") and ISO_UTC.match(detail["transactTime"])
    events = get(viewer, f"/api/queries/executions/{allocated['executionId']}/events")
    assert [e["type"] for e in events["results"]] == ["ExecutionAllocated"]
    for params in ({"status": "Bogus"}, {"ordering": "nope"}, {"limit": "many"}):
        response = viewer.get("/api/queries/executions", params)
        assert_error(response.status_code, response.json(), 400, "validation_failed", next(iter(params)))
    for path in ("/api/queries/executions/nope", "/api/queries/executions/nope/events"):
        response = viewer.get(path)
        assert_error(response.status_code, response.json(), 404, "not_found")


# --- the global event feed ----------------------------------------------------------------------


def test_event_feed_in_seq_order_with_next_link(viewer: APIClient, book: dict[str, Any]) -> None:
    # the feed opens with the seeded routing rules (rules 0006): the book's events follow them
    seeded = get(viewer, "/api/queries/events", topic="rule-events")["results"]
    assert {e["actor"] for e in seeded} == {"system:seed"}
    feed = get(viewer, "/api/queries/events", afterSeq=max((e["seq"] for e in seeded), default=0))
    events = feed["results"]
    assert feed["count"] == len(events) == event_count(viewer) - len(seeded) > 5
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    for e in events:
        assert EVENT_KEYS <= set(e), e
        assert ISO_UTC.match(e["occurredAt"]) and ISO_UTC.match(e["recordedAt"])
        assert e["actor"] == "trader" and e["correlationId"]
        assert e["topic"] in ("order-events", "execution-events", "position-events")
        assert e["state"]["version"] == e["version"]
    assert {e["type"] for e in events} >= {
        "OrderCreated",
        "OrderAccepted",
        "OrderFilled",
        "ExecutionAllocated",
        "OrderCanceled",
    }

    page = get(viewer, "/api/queries/events", afterSeq=seqs[1], limit=3)
    assert [e["seq"] for e in page["results"]] == seqs[2:5]
    assert page["count"] == len(seqs) - 2
    assert parse_qs(urlparse(page["next"]).query)["afterSeq"] == [str(seqs[4])]
    follow = viewer.get(page["next"]).json()
    assert [e["seq"] for e in follow["results"]] == seqs[5:8]
    tail = get(viewer, "/api/queries/events", afterSeq=seqs[-1])
    assert tail["results"] == [] and tail["next"] is None and tail["count"] == 0

    only = get(viewer, "/api/queries/events", topic="execution-events")["results"]
    assert [e["type"] for e in only] == ["ExecutionAllocated"]
    both = get(viewer, "/api/queries/events", topic="order-events,execution-events")
    assert both["count"] == sum(e["topic"] != "position-events" for e in events)
    every = get(viewer, "/api/queries/events", topic="order-events,execution-events,position-events")
    assert every["count"] == feed["count"]


@pytest.mark.parametrize(
    "params",
    [
        {"afterSeq": "x"},
        {"afterSeq": "-1"},
        {"limit": "0"},
        {"limit": "1001"},
        {"limit": "ten"},
        {"topic": "bogus-events"},
    ],
)
def test_event_feed_bad_params_are_400(viewer: APIClient, params: dict[str, str]) -> None:
    response = viewer.get("/api/queries/events", params)
    assert_error(response.status_code, response.json(), 400, "validation_failed", next(iter(params)))


def test_correlation_id_is_carried_on_every_event(desk: APIClient) -> None:
    parent = create(desk)
    market = child(desk, parent["orderId"])
    status, js = send(
        desk,
        "executions",
        {
            "commandType": "ExecuteOrderCommand",
            "orderId": market["orderId"],
            "execID": "X-corr",
            "lastQty": "5",
            "lastPx": "100",
            "venue": "MANUAL",
        },
        **{"X-Correlation-ID": "corr-42"},
    )
    assert status == 201
    assert len(js["events"]) >= 3  # the execution, the fill on the market order, the parent's reflection
    assert {e["correlationId"] for e in js["events"]} == {"corr-42"}
    stored = [e for e in get(desk, "/api/queries/events")["results"] if e["correlationId"] == "corr-42"]
    assert [e["seq"] for e in stored] == [e["seq"] for e in js["events"]]
    other = create(desk)
    events = get(desk, f"/api/queries/orders/{other['orderId']}/events")["results"]
    assert events[0]["correlationId"] not in ("", None, "corr-42")


def test_viewer_reads_everything(viewer: APIClient, book: dict[str, Any]) -> None:
    a, ex = book["a"], book["exec"]
    for path in [
        "/api/queries/orders",
        f"/api/queries/orders/{a['orderId']}",
        f"/api/queries/orders/{a['orderId']}/events",
        f"/api/queries/orders/{a['orderId']}/tree",
        "/api/queries/executions",
        f"/api/queries/executions/{ex['executionId']}",
        f"/api/queries/executions/{ex['executionId']}/events",
        "/api/queries/events",
        "/api/schema",
    ]:
        assert viewer.get(path).status_code == 200, path


# --- OpenAPI schema and Swagger UI ---------------------------------------------------------------


def test_openapi_schema_documents_the_api(viewer: APIClient) -> None:
    response = viewer.get("/api/schema")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    assert schema["openapi"].startswith("3.")
    for path in [
        "/api/commands/orders",
        "/api/commands/executions",
        "/api/commands/quote-requests",
        "/api/commands/quotes",
        "/api/queries/orders",
        "/api/queries/orders/{order_id}",
        "/api/queries/orders/{order_id}/events",
        "/api/queries/orders/{order_id}/tree",
        "/api/queries/executions",
        "/api/queries/executions/{execution_id}",
        "/api/queries/events",
    ]:
        assert "get" in schema["paths"][path] or "post" in schema["paths"][path], path
    operation_ids = [op["operationId"] for item in schema["paths"].values() for op in item.values()]
    assert len(operation_ids) == len(set(operation_ids))
    orders = {p["name"] for p in schema["paths"]["/api/queries/orders"]["get"]["parameters"]}
    assert orders >= {
        "clOrdID",
        "status",
        "symbol",
        "side",
        "account",
        "venue",
        "kind",
        "rootId",
        "parentId",
        "handling",
        "updatedAfter",
        "ordering",
        "limit",
        "offset",
    }
    executions = {p["name"] for p in schema["paths"]["/api/queries/executions"]["get"]["parameters"]}
    assert executions >= {"orderId", "clientOrderId", "status", "execID", "venue", "limit", "offset"}
    feed = {p["name"] for p in schema["paths"]["/api/queries/events"]["get"]["parameters"]}
    assert feed >= {"afterSeq", "limit", "topic"}
    json_schema = viewer.get("/api/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert json_schema.status_code == 200 and json_schema.json()["openapi"] == schema["openapi"]


def test_schema_generation_is_free_of_warnings(db: Any) -> None:
    GENERATOR_STATS.reset()
    schema = SchemaGenerator().get_schema(request=None, public=True)
    assert not GENERATOR_STATS, (dict(GENERATOR_STATS._warn_cache), dict(GENERATOR_STATS._error_cache))
    validate_schema(schema)  # a valid OpenAPI 3 document
    page = schema["components"]["schemas"]["PaginatedOrderStateList"]
    assert set(page["properties"]) == {"count", "next", "previous", "results"}


def test_swagger_ui_is_served_locally(viewer: APIClient, settings: Any) -> None:
    # without collectstatic the manifest storage has no entries: serve from the finders instead
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    response = viewer.get("/api/docs")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "/api/schema" in html
    assert not re.search(r"https?://(cdn|unpkg|fonts)\.", html), "the docs page must not load from a CDN"
