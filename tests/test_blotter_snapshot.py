"""The blotter's snapshot (blotter/snapshot.py): the working set, one database snapshot at a known
seq, the gzip NDJSON endpoint, one build shared by the pages that open at once; and the history
window's filters on the query API (createdAfter/createdBefore)."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client

from blotter.consumers import max_seq
from blotter.snapshot import SNAPSHOTS, snapshot_lines, trading_day_start
from executions.models import Execution
from oms.core import eventfeed
from oms.core.dispatch import dispatch
from oms.orders.models import Order
from oms.quotes.models import QuoteRequest
from tests.lifecycle import Desk, new_request, uid

KIND_ID = {
    "orders": "orderId",
    "executions": "executionId",
    "quoteRequests": "quoteRequestId",
    "quotes": "quoteId",
}
TOPIC_KIND = {
    "order-events": "orders",
    "execution-events": "executions",
    "quote-request-events": "quoteRequests",
    "quote-events": "quotes",
}


@pytest.fixture(autouse=True)
def _fresh_cache() -> Any:
    SNAPSHOTS.clear()
    yield
    SNAPSHOTS.clear()


def parse(lines: list[str]) -> tuple[dict[str, Any], dict[str, dict[str, dict[str, Any]]], dict[str, Any]]:
    """(header, {kind: {id: doc}}, end line) of an NDJSON snapshot."""
    records = [json.loads(line) for line in lines]
    header, end = records[0], records[-1]
    assert header["type"] == "snapshot" and end["type"] == "end"
    docs: dict[str, dict[str, dict[str, Any]]] = {k: {} for k in KIND_ID}
    for record in records[1:-1]:
        assert record["type"] == "docs"
        for doc in record["docs"]:
            docs[record["kind"]][doc[KIND_ID[record["kind"]]]] = doc
    return header, docs, end


def age(model: Any, ids: list[str], days: int) -> None:
    """Move objects `days` back in time (their created/updated columns: what the working set reads)."""
    when = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
    model.objects.filter(pk__in=ids).update(created_at=when, updated_at=when)


def test_the_working_set_is_working_trees_todays_objects_held_executions_and_open_rfqs(db: Any) -> None:
    desk = Desk("dispatch")
    # yesterday's working tree: a client order and its accepted market child (working)
    old_working = desk.venue_order(100)
    old_root = old_working["rootId"]
    # yesterday's finished tree: filled
    old_done = desk.venue_order(50)
    old_fill = desk.execute(old_done, 50)["execution"]
    # yesterday's canceled client order
    old_canceled = desk.cancel(desk.client_order(10))
    # an execution held for review since yesterday (unknown order)
    held = desk.execute("NO-SUCH-ORDER", 5, venue="MANUAL")["execution"]
    assert held["status"] == "PendingReview"
    # yesterday's RFQs: one still open, one canceled
    open_rfq = new_request()
    closed_rfq = new_request()
    dispatch(
        "quote-requests",
        {"commandType": "CancelQuoteRequestCommand", "quoteRequestId": closed_rfq["quoteRequestId"]},
        actor="trader",
    )
    old_orders = [
        o.order_id
        for o in Order.objects.filter(root_id__in=[old_root, old_done["rootId"], old_canceled["rootId"]])
    ]
    age(Order, old_orders, 3)
    age(Execution, [old_fill["executionId"], held["executionId"]], 3)
    age(QuoteRequest, [open_rfq["quoteRequestId"], closed_rfq["quoteRequestId"]], 3)
    # today: a finished order (filled today) stays in the working set
    today_done = desk.venue_order(20)
    today_fill = desk.execute(today_done, 20)["execution"]

    header, docs, end = parse(list(snapshot_lines(trading_day_start())))

    orders = set(docs["orders"])
    assert {old_root, old_working["orderId"]} <= orders, "a working tree is in, root and child"
    assert {today_done["orderId"], today_done["rootId"]} <= orders, "today's orders are in, finished or not"
    assert old_done["orderId"] not in orders and old_done["rootId"] not in orders, (
        "yesterday's finished tree is out"
    )
    assert old_canceled["orderId"] not in orders
    assert set(docs["executions"]) == {held["executionId"], today_fill["executionId"]}
    assert open_rfq["quoteRequestId"] in docs["quoteRequests"]
    assert closed_rfq["quoteRequestId"] not in docs["quoteRequests"]
    assert end["counts"] == {kind: len(docs[kind]) for kind in KIND_ID}
    assert header["seq"] == end["seq"] == eventfeed.events_after(0, 10_000)[-1]["seq"]
    # each document is the stored one, as the query API shows it
    for order_id, doc in docs["orders"].items():
        assert doc == Order.objects.get(pk=order_id).doc


def test_a_document_two_reads_find_is_sent_once_and_orders_come_newest_first(db: Any) -> None:
    desk = Desk("dispatch")
    trees = [desk.venue_order(10 + i) for i in range(3)]
    rfq = new_request()  # open and created today: both reads of the quote requests find it

    lines = list(snapshot_lines(trading_day_start()))

    records = [json.loads(line) for line in lines]
    sent = {kind: [doc for r in records if r.get("kind") == kind for doc in r["docs"]] for kind in KIND_ID}
    rfq_ids = [doc["quoteRequestId"] for doc in sent["quoteRequests"]]
    assert rfq_ids.count(rfq["quoteRequestId"]) == 1
    assert records[-1]["counts"]["quoteRequests"] == len(rfq_ids)
    order_ids = [doc["orderId"] for doc in sent["orders"]]
    assert len(order_ids) == len(set(order_ids)) == Order.objects.count()
    assert {tree["rootId"] for tree in trees} <= set(order_ids)
    keys = [(doc["createdAt"], doc["orderId"]) for doc in sent["orders"]]
    assert keys == sorted(keys, reverse=True), "newest first, as the grid sorts them"


def _version_at(seq: int) -> dict[tuple[str, str], int]:
    """(kind, id) -> the version after the last event at or before `seq`."""
    out: dict[tuple[str, str], int] = {}
    after = 0
    while True:
        page = eventfeed.events_after(after, 1000)
        if not page:
            return out
        for ev in page:
            if ev["seq"] <= seq and ev["topic"] in TOPIC_KIND:  # not the controls' own topics
                out[(TOPIC_KIND[ev["topic"]], ev["aggregateId"])] = ev["version"]
        after = page[-1]["seq"]


@pytest.mark.django_db(transaction=True)
def test_a_snapshot_is_the_state_at_its_seq_while_commands_commit_during_the_stream() -> None:
    desk = Desk("dispatch")
    orders = [desk.venue_order(100) for _ in range(4)]
    committed: list[int] = []

    def commit_meanwhile(kind: str) -> None:
        # another connection commits fills and new orders while the snapshot is half read
        def work() -> None:
            try:
                for order in orders:
                    desk.execute(order, 10)
                desk.venue_order(7)
                committed.append(eventfeed.events_after(0, 100_000)[-1]["seq"])
            finally:
                connection.close()  # this thread's own connection

        worker = threading.Thread(target=work)
        worker.start()
        worker.join()

    lines = list(snapshot_lines(trading_day_start(), pause=commit_meanwhile))
    header, docs, _ = parse(lines)
    seq = header["seq"]
    assert committed and committed[0] > seq, "the commits landed after the snapshot's seq"
    versions = _version_at(seq)
    # no document is newer or older than the seq it claims, and none was created after it
    for kind, by_id in docs.items():
        for object_id, doc in by_id.items():
            assert doc["version"] == versions[(kind, object_id)], (kind, object_id)
    assert all(doc["cumQty"] == "0" for doc in docs["orders"].values()), "no fill of the later commits"
    # the page's rule: apply the feed's events after seq, each once: it ends equal to the database
    store = {kind: dict(by_id) for kind, by_id in docs.items()}
    for ev in eventfeed.events_after(seq, 100_000):
        if ev["topic"] not in TOPIC_KIND:
            continue  # the controls' topics: not blotter documents
        kind, object_id = TOPIC_KIND[ev["topic"]], ev["aggregateId"]
        old = store[kind].get(object_id)
        assert old is None or ev["version"] == old["version"] + 1, "no gap, no double apply"
        store[kind][object_id] = ev["state"]
    for order in Order.objects.all():
        assert store["orders"][order.order_id] == order.doc
    for execution in Execution.objects.all():
        assert store["executions"][execution.execution_id] == execution.doc


def _reader(username: str, *groups: str) -> Client:
    from django.contrib.auth.models import Group

    user = User.objects.create_user(username, password="pw")
    for name in groups:
        user.groups.add(Group.objects.get_or_create(name=name)[0])
    client = Client()
    client.force_login(user)
    return client


def test_the_endpoint_answers_gzip_ndjson_at_the_committed_seq(db: Any) -> None:
    desk = Desk("dispatch")
    order = desk.venue_order(100)
    client = _reader("snap-viewer", "viewer")
    response = client.get("/blotter/api/snapshot", headers={"Accept-Encoding": "gzip, deflate"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-ndjson"
    assert response["Content-Encoding"] == "gzip"
    body = gzip.decompress(response.content).decode()
    header, docs, end = parse(body.splitlines())
    assert int(response["X-OMS-Seq"]) == header["seq"] == end["seq"]
    assert docs["orders"][order["orderId"]] == Order.objects.get(pk=order["orderId"]).doc
    # without gzip in Accept-Encoding: the same body, plain
    plain = client.get("/blotter/api/snapshot")
    assert "Content-Encoding" not in plain
    assert plain.content.decode() == body


def test_the_endpoint_refuses_anonymous_users_users_without_a_role_and_other_methods(db: Any) -> None:
    assert Client().get("/blotter/api/snapshot").status_code == 401
    nobody = _reader("snap-nobody")
    response = nobody.get("/blotter/api/snapshot")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    viewer = _reader("snap-viewer2", "viewer")
    assert viewer.post("/blotter/api/snapshot").status_code in (403, 405)  # CSRF or method


@pytest.mark.django_db(transaction=True)
def test_pages_opening_at_once_share_one_build_per_seq(settings: Any) -> None:
    settings.OMS_BLOTTER_SNAPSHOT_MAX_AGE = 0.0  # only a snapshot at the committed seq is reused
    desk = Desk("dispatch")
    desk.venue_order(100)
    got: list[Any] = []
    barrier = threading.Barrier(12)

    def open_page() -> None:
        barrier.wait()
        try:
            got.append(SNAPSHOTS.get())
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=open_page) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 12 and len({id(s) for s in got}) == 1
    assert SNAPSHOTS.builds == 1
    # a commit moves the seq: the next page gets a new snapshot
    desk.venue_order(5)
    later = SNAPSHOTS.get()
    assert later.seq > got[0].seq and SNAPSHOTS.builds == 2


@pytest.mark.django_db(transaction=True)
def test_a_recent_snapshot_is_shared_within_the_allowed_age_and_lag(settings: Any) -> None:
    settings.OMS_BLOTTER_SNAPSHOT_MAX_AGE = 60.0
    settings.OMS_BLOTTER_SNAPSHOT_MAX_LAG = 3
    desk = Desk("dispatch")
    desk.client_order(1)
    first = SNAPSHOTS.get()
    # a few events behind (the order's own, and its position's: oms/positions), within the lag:
    # still shared (the page catches up from the feed)
    desk.client_order(1)
    assert 0 < max_seq() - first.seq <= 3
    assert SNAPSHOTS.get() is first
    while max_seq() - first.seq <= 3:
        desk.client_order(1)  # until more than three events behind: too far
    assert SNAPSHOTS.get().seq == max_seq() > first.seq


def _wait(condition: Any, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return bool(condition())


@pytest.mark.django_db(transaction=True)
def test_after_a_page_opens_the_snapshot_is_rebuilt_ahead_of_the_next_page(settings: Any) -> None:
    settings.OMS_BLOTTER_SNAPSHOT_MAX_AGE = 0.2
    settings.OMS_BLOTTER_SNAPSHOT_WARM = 30.0
    desk = Desk("dispatch")
    desk.client_order(1)
    first = SNAPSHOTS.get()
    SNAPSHOTS.keep_warm()
    desk.client_order(1)  # commits move the seq on; no page asks
    assert _wait(lambda: SNAPSHOTS.get().seq == max_seq())
    assert SNAPSHOTS.warm_builds >= 1 and SNAPSHOTS.builds == 1 + SNAPSHOTS.warm_builds
    # the next page shares the build made ahead of it: it waits for none of its own
    snap, built = SNAPSHOTS.get_built()
    assert not built and snap.seq == max_seq() > first.seq
    SNAPSHOTS.clear()
    assert _wait(lambda: SNAPSHOTS._warmer is None)


@pytest.mark.django_db(transaction=True)
def test_warming_stops_when_no_page_opened_for_its_time_and_is_off_without_sharing(settings: Any) -> None:
    settings.OMS_BLOTTER_SNAPSHOT_MAX_AGE = 0.1
    settings.OMS_BLOTTER_SNAPSHOT_WARM = 0.3
    desk = Desk("dispatch")
    SNAPSHOTS.get()
    SNAPSHOTS.keep_warm()
    assert SNAPSHOTS._warmer is not None
    assert _wait(lambda: SNAPSHOTS._warmer is None)  # 0.3 s without another open
    builds = SNAPSHOTS.builds
    desk.client_order(1)
    time.sleep(0.3)
    assert SNAPSHOTS.builds == builds  # nothing built ahead any more
    # only a build at the committed seq is shared (MAX_AGE 0): nothing to warm
    settings.OMS_BLOTTER_SNAPSHOT_MAX_AGE = 0.0
    SNAPSHOTS.keep_warm()
    assert SNAPSHOTS._warmer is None


def test_the_page_preloads_every_module_its_imports_name(desk_user: User) -> None:
    """The modules download at once (modulepreload), not one level of imports per round trip: every
    URL an ES module of the page imports is preloaded, by that very URL (a different one, e.g. a
    hashed name, would download it twice)."""
    client = Client()
    client.force_login(desk_user)
    html = client.get("/").content.decode()
    preloaded = set(re.findall(r'<link rel="modulepreload" href="([^"]+)">', html))
    folder = Path(__file__).resolve().parent.parent / "static" / "blotter"
    imported = {
        url
        for module in folder.glob("*.js")
        for url in re.findall(r'(?:from|import\()\s*"(/static/[^"]+)"', module.read_text())
    }
    assert "/static/vendor/tabulator/js/tabulator_esm.min.mjs" in imported
    assert imported and imported <= preloaded
    # the snapshot's download is asked for before the stylesheets (an inline script waits for
    # those above it) and the modules (home.html's inline script)
    asked = html.index("window.__snapshotResponse = fetch(")
    assert asked < html.index('rel="stylesheet"') and asked < html.index('rel="modulepreload"')


def test_history_windows_are_read_with_created_after_and_before(desk: Any, trader: Desk) -> None:
    old = trader.client_order(10, clOrdID=uid("OLD"))
    older = trader.client_order(10, clOrdID=uid("OLDER"))
    new = trader.client_order(10)
    age(Order, [old["orderId"]], 2)
    age(Order, [older["orderId"]], 5)
    now = dt.datetime.now(dt.UTC)
    window = {
        "createdAfter": (now - dt.timedelta(days=3)).isoformat(),
        "createdBefore": (now - dt.timedelta(days=1)).isoformat(),
        "count": "false",
    }
    page = desk.get("/api/queries/orders", window).json()
    assert [o["orderId"] for o in page["results"]] == [old["orderId"]]
    assert new["orderId"] != old["orderId"]
    bad = desk.get("/api/queries/orders", {"createdBefore": "yesterday"})
    assert bad.status_code == 400
    assert "createdBefore" in bad.json()["error"]["fields"]
    fills = desk.get("/api/queries/executions", {"createdBefore": "not-a-time"})
    assert fills.status_code == 400 and "createdBefore" in fills.json()["error"]["fields"]
