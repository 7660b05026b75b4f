"""The Django admin: every object viewable (changelists with search and filters, change pages with
their event history), nothing writable (no add/change/delete, superusers included), access by
role, and bounded query counts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from executions.models import Execution, ExecutionEvent
from oms.core import admin as core_admin
from oms.core.dispatch import dispatch
from oms.core.models import EventSequence, IdempotencyRecord
from oms.orders.models import ClOrdIdKey, Order, OrderEvent
from oms.quotes.models import Quote, QuoteEvent, QuoteIdKey, QuoteReqIdKey, QuoteRequest, QuoteRequestEvent
from tests.admin_support import EXECUTIONS, browser, held, limit_market, staff
from tests.lifecycle import Desk, uid

OMS_APPS = {"core", "orders", "executions", "quotes"}


@dataclass
class World:
    client_order: dict[str, Any]
    market: dict[str, Any]
    slice: dict[str, Any]
    filled: dict[str, Any]  # an allocated execution
    held: dict[str, Any]  # an execution pending review
    quote_request: dict[str, Any]
    quote: dict[str, Any]


def build_world(t: Desk) -> World:
    market = limit_market(t, 100, "10")
    piece = t.child(market, 20, clOrdID=uid("S"))
    filled = t.execute(market, 30, "10")["execution"]
    pending = held(t, market, 5, "11")  # through the limit
    dispatch(
        "orders",
        {"commandType": "CancelOrderCommand", "orderId": piece["orderId"], "clOrdID": uid("X")},
        actor="trader",
        idempotency_key=uid("K"),
    )
    request = dispatch(
        "quote-requests",
        {
            "commandType": "CreateQuoteRequestCommand",
            "quoteReqID": uid("QR"),
            "symbol": "ACME",
            "side": "Buy",
            "orderQty": "10",
            "account": "ACC1",
        },
        actor="trader",
    ).body["quoteRequest"]
    quote = dispatch(
        "quotes",
        {
            "commandType": "CreateQuoteCommand",
            "quoteID": uid("Q"),
            "quoteReqID": request["quoteReqID"],
            "offerPx": "10.5",
            "offerSize": "10",
        },
        actor="trader",
    ).body["quote"]
    piece = t.get(piece["orderId"])
    assert piece["status"] == "PendingCancel"
    return World(t.get(market["rootId"]), t.get(market["orderId"]), piece, filled, pending, request, quote)


@pytest.fixture
def world(trader: Desk) -> World:
    return build_world(trader)


@pytest.fixture
def superuser(db: Any) -> User:
    return staff("root", superuser=True)


@pytest.fixture
def boss(superuser: User) -> Client:
    return browser(superuser)


def oms_models() -> list[type]:
    return [m for m in admin.site._registry if m._meta.app_label in OMS_APPS]


def url(model: type, view: str = "changelist", pk: Any = None) -> str:
    base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
    if view == "changelist":
        return base
    if view == "add":
        return base + "add/"
    return f"{base}{pk}/{view}/"


def test_every_oms_table_is_registered() -> None:
    expected = {
        Order,
        OrderEvent,
        ClOrdIdKey,
        Execution,
        ExecutionEvent,
        IdempotencyRecord,
        EventSequence,
        QuoteRequest,
        QuoteRequestEvent,
        Quote,
        QuoteEvent,
        QuoteReqIdKey,
        QuoteIdKey,
    }
    assert expected <= set(admin.site._registry)
    assert User in admin.site._registry  # users and tokens keep Django's and DRF's admins


# --- changelists: data, search and filters --------------------------------------------------------


def changelist_cases(w: World) -> list[tuple[type, dict[str, str], str, str | None]]:
    """(model, query params, text that must be shown, text that must not be)."""
    m, c = w.market, w.client_order
    today = str(Order.objects.get(pk=m["orderId"]).created_at.date())
    filled = ExecutionEvent.objects.get(aggregate_id=w.filled["executionId"])
    return [
        (Order, {}, m["clOrdID"], None),
        (Order, {"q": m["clOrdID"]}, m["clOrdID"], c["clOrdID"]),
        (Order, {"q": "ACME"}, m["clOrdID"], None),
        (Order, {"status__exact": "PendingCancel"}, w.slice["clOrdID"], m["clOrdID"]),
        (Order, {"kind__exact": "Client"}, c["clOrdID"], m["clOrdID"]),
        (Order, {"side__exact": "Buy", "handling__exact": "Desk", "venue": "MANUAL"}, m["clOrdID"], None),
        (Order, {"account": "ACC1"}, c["clOrdID"], None),
        (Order, {"created_at__gte": today, "created_at__lt": "2999-01-01"}, m["clOrdID"], None),
        (Order, {"created_at__lt": today}, "0 orders", m["clOrdID"]),
        (OrderEvent, {"q": m["orderId"]}, "OrderFilled", "OrderCreated</td><td>Client"),
        (OrderEvent, {"type": "OrderCancelRequested"}, w.slice["orderId"], m["orderId"]),
        (OrderEvent, {"actor": "trader"}, "OrderAccepted", None),
        (ClOrdIdKey, {"q": m["clOrdID"]}, m["orderId"], c["orderId"]),
        (Execution, {"status": "all", "q": w.filled["execID"]}, w.filled["execID"], w.held["execID"]),
        (Execution, {"status": "Allocated", "venue": "MANUAL"}, w.filled["execID"], w.held["execID"]),
        (ExecutionEvent, {"type": "ExecutionHeld"}, w.held["executionId"], w.filled["executionId"]),
        (
            ExecutionEvent,
            {"q": w.filled["executionId"], "actor": "trader"},
            w.filled["executionId"],
            None,
        ),
        (
            ExecutionEvent,
            {"correlation_id": filled.correlation_id},
            w.filled["executionId"],
            w.held["executionId"],
        ),
        (OrderEvent, {"correlation_id": filled.correlation_id}, m["orderId"], w.slice["orderId"]),
        (IdempotencyRecord, {"q": "trader", "status_code__exact": "200", "actor": "trader"}, "trader", None),
        (EventSequence, {}, str(EventSequence.objects.get().last_seq), None),
        (
            QuoteRequest,
            {"q": w.quote_request["quoteReqID"], "status__exact": "Quoted"},
            w.quote_request["quoteReqID"],
            None,
        ),
        (QuoteRequest, {"status__exact": "Canceled"}, "0 quote requests", w.quote_request["quoteReqID"]),
        (
            Quote,
            {"q": w.quote["quoteID"], "status__exact": "Active", "side__exact": "Buy"},
            w.quote["quoteID"],
            None,
        ),
        (QuoteRequestEvent, {"type": "QuoteRequestCreated"}, w.quote_request["quoteRequestId"], None),
        (QuoteEvent, {"q": w.quote["quoteId"]}, "QuoteCreated", None),
        (QuoteReqIdKey, {"q": w.quote_request["quoteReqID"]}, w.quote_request["quoteRequestId"], None),
        (QuoteIdKey, {"q": w.quote["quoteID"]}, w.quote["quoteId"], None),
    ]


def test_every_changelist_loads_with_data_search_and_filters(boss: Client, world: World) -> None:
    cases = changelist_cases(world)
    assert {case[0] for case in cases} == set(oms_models())  # every OMS table has a case
    for model, params, shown, not_shown in cases:
        response = boss.get(url(model), params)
        assert response.status_code == 200, (model, params, response.status_code)
        assert "?e=1" not in response.get("Location", ""), (model, params)
        html = response.content.decode()
        assert shown in html, (model, params, shown)
        if not_shown:
            assert not_shown not in html, (model, params, not_shown)


def test_a_bad_filter_value_does_not_break_the_changelist(boss: Client, world: World) -> None:
    response = boss.get(EXECUTIONS, {"status": "Nonsense"})
    assert (response.status_code, response["Location"]) == (302, f"{EXECUTIONS}?e=1")
    assert boss.get(EXECUTIONS, {"reason": "nope"})["Location"] == f"{EXECUTIONS}?e=1"


# --- change pages and history ---------------------------------------------------------------------


def test_every_change_page_loads_read_only(boss: Client, world: World) -> None:
    for model in oms_models():
        obj = model.objects.first()
        assert obj is not None, model
        response = boss.get(url(model, "change", obj.pk))
        assert response.status_code == 200, (model, response.status_code)
        html = response.content.decode()
        assert 'name="_save"' not in html, model  # nothing to save
        assert "deletelink" not in html, model


def test_state_pages_show_their_event_history(boss: Client, world: World) -> None:
    pages = [
        (Order, world.market["orderId"], ["OrderCreated", "OrderAccepted", "OrderFilled"]),
        (Execution, world.filled["executionId"], ["ExecutionAllocated"]),
        (QuoteRequest, world.quote_request["quoteRequestId"], ["QuoteRequestCreated", "QuoteRequestQuoted"]),
        (Quote, world.quote["quoteId"], ["QuoteCreated"]),
    ]
    for model, pk, types in pages:
        html = boss.get(url(model, "change", pk)).content.decode()
        assert 'class="oms-history"' in html, model
        for event_type in types:
            assert event_type in html, (model, event_type)
        history = boss.get(url(model, "history", pk))
        assert history.status_code == 200
        page = history.content.decode()
        rows = history.context["rows"]
        events = model._meta.apps.get_model(model._meta.app_label, model.__name__ + "Event")
        stored = list(events.objects.filter(aggregate_id=pk).order_by("version"))
        assert [r["event"].seq for r in rows] == [e.seq for e in stored]
        first = stored[0]
        for text in (first.type, first.actor, first.correlation_id, first.command["commandType"]):
            assert text in page, (model, text)


def test_order_history_shows_the_commands_and_state_diffs(boss: Client, world: World) -> None:
    response = boss.get(url(Order, "history", world.market["orderId"]))
    rows = {r["event"].type: r for r in response.context["rows"]}
    assert [r["event"].type for r in response.context["rows"]][:2] == ["OrderCreated", "OrderAccepted"]
    created = str(rows["OrderCreated"]["diff"])
    assert "<b>orderQty</b>=100" in created and "<b>status</b>=PendingNew" in created
    filled = str(rows["OrderFilled"]["diff"])
    assert "<b>cumQty</b>: 0 → 30" in filled and "<b>status</b>: New → PartiallyFilled" in filled
    assert "version" not in filled  # every event changes it: left out
    assert "ExecuteOrderCommand" in rows["OrderFilled"]["command"]


def test_order_page_shows_its_tree_and_executions(boss: Client, world: World) -> None:
    html = boss.get(url(Order, "change", world.market["orderId"])).content.decode()
    root, piece = world.client_order, world.slice
    assert f'href="/admin/orders/order/{root["orderId"]}/change/"' in html  # parent and root
    assert f'href="/admin/orders/order/{piece["orderId"]}/change/"' in html  # child
    assert f'href="/admin/executions/execution/{world.filled["executionId"]}/change/"' in html
    assert f'href="/admin/executions/execution/{world.held["executionId"]}/change/"' in html
    client_page = boss.get(url(Order, "change", root["orderId"])).content.decode()
    # the client order lists the execution allocated to it, not the held one
    assert world.filled["execID"] in client_page and world.held["execID"] not in client_page


def test_event_page_links_its_aggregate_and_shows_the_documents(boss: Client, world: World) -> None:
    event = ExecutionEvent.objects.get(aggregate_id=world.held["executionId"])
    html = boss.get(url(ExecutionEvent, "change", event.pk)).content.decode()
    assert f'href="/admin/executions/execution/{world.held["executionId"]}/change/"' in html
    assert "price_through_limit" in html and "ExecuteOrderCommand" in html


# --- read-only for everyone -----------------------------------------------------------------------


def test_add_change_and_delete_are_refused_even_for_superusers(boss: Client, world: World) -> None:
    for model in oms_models():
        obj = model.objects.first()
        before = model.objects.count()
        assert boss.get(url(model, "add")).status_code == 403, model
        assert boss.post(url(model, "add"), {}).status_code == 403, model
        assert boss.post(url(model, "change", obj.pk), {}).status_code == 403, model
        assert boss.get(url(model, "delete", obj.pk)).status_code == 403, model
        assert boss.post(url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403, model
        assert model.objects.count() == before
        changelist = boss.get(url(model) + ("?status=all" if model is Execution else ""))
        assert b"delete_selected" not in changelist.content, model
        assert f'href="{url(model, "add")}"' not in changelist.content.decode(), model
    bulk = boss.post(
        url(Order), {"action": "delete_selected", "_selected_action": [world.market["orderId"]], "index": 0}
    )
    assert bulk.status_code == 200  # the changelist again: orders have no actions at all
    assert bulk.context["action_form"] is None
    assert Order.objects.filter(pk=world.market["orderId"]).exists()


def test_viewer_staff_may_view_but_not_act(world: World) -> None:
    viewer = browser(staff("watcher", "viewer"))
    for model in oms_models():
        assert viewer.get(url(model)).status_code == 200, model
    execution = world.held["executionId"]
    changelist = viewer.get(EXECUTIONS).content.decode()
    assert world.held["execID"] in changelist and 'name="action"' not in changelist
    page = viewer.get(url(Execution, "change", execution)).content.decode()
    assert "/review/" not in page
    assert viewer.get(f"{EXECUTIONS}{execution}/review/reject/").status_code == 403
    refused = viewer.post(f"{EXECUTIONS}{execution}/review/reject/", {"text": "no"})
    assert refused.status_code == 403
    assert ExecutionEvent.objects.filter(aggregate_id=execution).count() == 1


def test_staff_without_an_oms_role_sees_no_oms_table(world: World) -> None:
    nobody = browser(staff("intern"))
    for model in oms_models():
        assert nobody.get(url(model)).status_code == 403, model
    index = nobody.get("/admin/").content.decode()
    assert "/admin/orders/" not in index and "review-queue" not in index


def test_desk_users_who_are_not_staff_are_sent_to_the_admin_login(world: World, desk_user: User) -> None:
    response = browser(desk_user).get(EXECUTIONS)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_admin_index_leads_with_the_review_queue(boss: Client, world: World) -> None:
    html = boss.get("/admin/").content.decode()
    assert 'id="review-queue"' in html
    assert "<strong>1</strong>\n    execution pending review" in html
    assert html.index("review-queue") < html.index('class="app-orders')


# --- no N+1 -----------------------------------------------------------------------------------------


def _queries(client: Client, path: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(path).status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize(
    "path",
    [
        "/admin/orders/order/",
        "/admin/orders/orderevent/",
        "/admin/executions/execution/?status=all",
        "/admin/executions/execution/",
        "/admin/executions/executionevent/",
        "/admin/orders/clordidkey/",
    ],
)
def test_changelist_queries_do_not_grow_with_the_rows(
    boss: Client, trader: Desk, path: str, django_assert_max_num_queries: Any
) -> None:
    market = limit_market(trader, 1000)
    trader.execute(market, 1, "10")
    held(trader, market, 1, "99")
    few = _queries(boss, path)
    for _ in range(6):
        market = limit_market(trader, 1000)
        trader.execute(market, 1, "10")
        held(trader, market, 1, "99")
    with django_assert_max_num_queries(few):
        boss.get(path)
    assert few <= 12


def test_change_pages_use_a_fixed_number_of_queries(
    boss: Client, world: World, trader: Desk, django_assert_max_num_queries: Any
) -> None:
    pages = [
        url(Order, "change", world.market["orderId"]),
        url(Execution, "change", world.held["executionId"]),
        url(Order, "history", world.market["orderId"]),
    ]
    counts = [_queries(boss, page) for page in pages]
    for _ in range(5):  # more fills, events, children
        trader.execute(world.market, 1, "10")
        trader.child(world.market, 1)
    for page, count in zip(pages, counts, strict=True):
        with django_assert_max_num_queries(count):
            boss.get(page)


def test_changelist_count_stops_at_a_cap_and_estimates_large_tables(
    boss: Client, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = OrderEvent.objects.filter(actor="trader").count()
    assert events > 3
    monkeypatch.setattr(core_admin, "COUNT_CAP", 3)
    capped = boss.get(url(OrderEvent), {"actor": "trader"})
    assert "more than 3 order events" in capped.content.decode()
    assert len(capped.context["cl"].result_list) == events  # the rows are all there, on one page
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE order_events")
        estimated = boss.get(url(OrderEvent)).content.decode()
        assert f"about {OrderEvent.objects.count()} order events" in estimated
    monkeypatch.setattr(core_admin, "COUNT_CAP", 10_000)
    exact = boss.get(url(OrderEvent), {"actor": "trader"}).content.decode()
    assert f"\n{events} order events" in exact
