"""Purge: terminal objects past retention are archived (read back here), then deleted with their
events and index rows, whole order trees at a time; a working member, a held execution or a
failed archive keeps everything; `replay --verify` still passes afterwards.

The retention cut-offs are computed from a `now` passed to the job, so nothing waits for days.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from executions.models import Execution, ExecutionEvent
from oms.core import retention
from oms.core.dispatch import dispatch
from oms.core.eventfeed import event_to_api
from oms.core.parsing import iso
from oms.core.replay import replay
from oms.core.retention import PurgeParticipant, purge_participants
from oms.lifecycle.archive import read_archive, sha256_of
from oms.lifecycle.expiry import parse_time
from oms.lifecycle.models import PurgeRun
from oms.lifecycle.purge import PurgeFailed, purge
from oms.lifecycle.tasks import purge_due
from oms.orders.models import ClOrdIdKey, Order, OrderEvent
from tests.lifecycle import Desk, new_quote, new_request

pytestmark = pytest.mark.django_db

DAY = dt.timedelta(days=1)


@pytest.fixture
def archive_dir(tmp_path: Path, settings: Any) -> Path:
    settings.OMS_ARCHIVE_DIR = tmp_path / "archive"
    settings.OMS_RETENTION_DAYS = {"orders": 90, "executions": 90, "quote-requests": 30, "quotes": 30}
    return settings.OMS_ARCHIVE_DIR


def filled_tree(trader: Desk, qty: int = 10) -> dict[str, Any]:
    """A client order, its market order filled in full by one execution: every member terminal."""
    market = trader.venue_order(qty)
    answer = trader.execute(market, qty, "10")
    assert answer["execution"]["status"] == "Allocated"
    root = trader.get(market["parentId"])
    assert root["status"] == "Filled"
    return {"root": root, "market": trader.refresh(market), "execution": answer["execution"]}


def last_update(root_id: str) -> dt.datetime:
    rows = Order.objects.filter(root_id=root_id).values_list("updated_at", flat=True)
    ex = Execution.objects.filter(client_order_id=root_id).values_list("updated_at", flat=True)
    return max([*rows, *ex])


def tree_ids(root_id: str) -> list[str]:
    return list(Order.objects.filter(root_id=root_id).values_list("order_id", flat=True))


def snapshot(order_ids: list[str], execution_ids: list[str]) -> dict[tuple[str, str], dict[str, Any]]:
    """What the archive must hold: state doc and full event list per object."""
    out = {}
    for oid in order_ids:
        out[("order", oid)] = {
            "state": Order.objects.get(pk=oid).doc,
            "events": [
                event_to_api(e, "order-events")
                for e in OrderEvent.objects.filter(aggregate_id=oid).order_by("version")
            ],
        }
    for eid in execution_ids:
        out[("execution", eid)] = {
            "state": Execution.objects.get(pk=eid).doc,
            "events": [
                event_to_api(e, "execution-events")
                for e in ExecutionEvent.objects.filter(aggregate_id=eid).order_by("version")
            ],
        }
    return out


def test_a_terminal_tree_is_archived_then_purged_with_its_executions(trader: Desk, archive_dir: Path) -> None:
    tree = filled_tree(trader)
    root_id = tree["root"]["orderId"]
    orders = tree_ids(root_id)
    executions = [tree["execution"]["executionId"]]
    before = snapshot(orders, executions)
    cl_ord_ids = set(ClOrdIdKey.objects.filter(order_id__in=orders).values_list("cl_ord_id", flat=True))
    assert len(cl_ord_ids) == 2
    keep = trader.client_order(5)  # a working tree elsewhere: untouched

    report = purge(now=last_update(root_id) + 91 * DAY, actor="ops:alice")

    assert not Order.objects.filter(order_id__in=orders).exists()
    assert not OrderEvent.objects.filter(aggregate_id__in=orders).exists()
    assert not Execution.objects.filter(pk__in=executions).exists()
    assert not ExecutionEvent.objects.filter(aggregate_id__in=executions).exists()
    assert not ClOrdIdKey.objects.filter(cl_ord_id__in=cl_ord_ids).exists()
    assert Order.objects.filter(pk=keep["orderId"]).exists()

    # the archive holds exactly what was deleted, and its digest is the one recorded
    (run_id,) = report.runs
    run = PurgeRun.objects.get(pk=run_id)
    lines = list(read_archive(run.archive_path))
    archived = {(r["aggregate"], r["id"]): {"state": r["state"], "events": r["events"]} for r in lines}
    assert archived == before
    assert all(r["purgeRun"] == run_id for r in lines)
    assert sha256_of(run.archive_path) == run.archive_sha256
    assert Path(run.archive_path).stat().st_size == run.archive_bytes
    assert Path(run.archive_path).parent == archive_dir
    # the run is recorded: who, when, what, where, which events
    seqs = [e["seq"] for obj in before.values() for e in obj["events"]]
    assert (run.status, run.actor, run.seq_min, run.seq_max) == ("done", "ops:alice", min(seqs), max(seqs))
    assert run.counts == {
        "orders": 2,
        "order_events": sum(len(v["events"]) for k, v in before.items() if k[0] == "order"),
        "order_cl_ord_ids": 2,
        "executions": 1,
        "execution_events": len(before[("execution", executions[0])]["events"]),
    }
    assert report.counts == run.counts
    assert run.finished_at is not None and run.retention_days["orders"] == 90


def test_retention_boundary(trader: Desk, archive_dir: Path) -> None:
    tree = filled_tree(trader)
    root_id = tree["root"]["orderId"]
    edge = last_update(root_id) + 90 * DAY
    assert purge(now=edge).runs == []  # last updated exactly 90 days ago: kept
    assert Order.objects.filter(root_id=root_id).count() == 2
    assert purge(now=edge + dt.timedelta(microseconds=1)).counts["orders"] == 2
    assert not Order.objects.filter(root_id=root_id).exists()


def test_retention_is_per_object_type(trader: Desk, archive_dir: Path, settings: Any) -> None:
    tree = filled_tree(trader)
    root_id = tree["root"]["orderId"]
    settings.OMS_RETENTION_DAYS = {**settings.OMS_RETENTION_DAYS, "orders": 10, "executions": 20}
    # the orders are old enough, their execution is not: the tree waits for it
    assert purge(now=last_update(root_id) + 15 * DAY).runs == []
    assert Order.objects.filter(root_id=root_id).count() == 2
    assert purge(now=last_update(root_id) + 21 * DAY).counts["orders"] == 2


def test_a_tree_with_a_working_member_is_untouched(trader: Desk, archive_dir: Path) -> None:
    client = trader.client_order(20)
    done = trader.do("AcceptOrderCommand", trader.child(client, 10))
    trader.fill(done, 10)
    working = trader.do("AcceptOrderCommand", trader.child(client, 10))
    assert trader.refresh(done)["status"] == "Filled" and working["status"] == "New"
    before = snapshot(tree_ids(client["orderId"]), [])

    report = purge(now=last_update(client["orderId"]) + 1000 * DAY)
    assert report.runs == [] and report.counts == {}
    assert snapshot(tree_ids(client["orderId"]), []) == before
    assert Execution.objects.filter(client_order_id=client["orderId"]).count() == 1
    # a late fill still finds its tree
    assert trader.fill(working, 5)["status"] == "PartiallyFilled"


def test_done_for_day_is_not_terminal(trader: Desk, archive_dir: Path) -> None:
    market = trader.venue_order(10)
    trader.do("DoneForDayCommand", market)
    client = trader.get(market["parentId"])
    assert trader.cancel(client)["status"] == "Canceled"  # no working child: at once
    assert purge(now=last_update(client["orderId"]) + 1000 * DAY).runs == []
    assert Order.objects.filter(pk=market["orderId"]).exists()


def test_an_execution_held_for_review_keeps_its_tree(trader: Desk, archive_dir: Path) -> None:
    tree = filled_tree(trader)
    held = trader.execute(tree["market"], 5, "10")["execution"]  # an overfill: held for the desk
    assert held["status"] == "PendingReview"
    root_id = tree["root"]["orderId"]
    assert purge(now=last_update(root_id) + 1000 * DAY).runs == []
    assert Order.objects.filter(root_id=root_id).count() == 2
    # once the desk discards it, the whole tree goes, the rejected execution with it
    dispatch(
        "executions",
        {"commandType": "RejectExecutionCommand", "executionId": held["executionId"]},
        actor="trader",
    )
    report = purge(now=last_update(root_id) + 1000 * DAY)
    assert report.counts["orders"] == 2 and report.counts["executions"] == 2
    assert not Execution.objects.filter(pk=held["executionId"]).exists()


def test_rejected_execution_of_an_unknown_order_is_purged_alone(trader: Desk, archive_dir: Path) -> None:
    stray = trader.execute("NO-SUCH-ORDER", 1, "10", venue="XNAS")["execution"]
    assert stray["status"] == "PendingReview"
    now = parse_time(stray["updatedAt"]) + 91 * DAY
    assert purge(now=now).runs == []  # still held: the desk has not decided
    rejected = dispatch(
        "executions",
        {"commandType": "RejectExecutionCommand", "executionId": stray["executionId"]},
        actor="trader",
    ).body["execution"]
    assert purge(now=parse_time(rejected["updatedAt"]) + 89 * DAY).runs == []
    report = purge(now=parse_time(rejected["updatedAt"]) + 91 * DAY)
    assert report.counts == {"executions": 1, "execution_events": 2}
    assert not Execution.objects.filter(pk=stray["executionId"]).exists()
    (line,) = read_archive(report.archives[0])
    assert (
        line["state"]["status"] == "Rejected"
        and [e["type"] for e in line["events"]][-1] == "ExecutionRejected"
    )


def test_a_failed_archive_deletes_nothing_and_is_recorded(
    trader: Desk, tmp_path: Path, settings: Any
) -> None:
    tree = filled_tree(trader)
    root_id = tree["root"]["orderId"]
    before = snapshot(tree_ids(root_id), [tree["execution"]["executionId"]])
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    settings.OMS_ARCHIVE_DIR = blocker  # the archive cannot be created under a file

    with pytest.raises(PurgeFailed) as failure:
        purge(now=last_update(root_id) + 91 * DAY)
    assert snapshot(tree_ids(root_id), [tree["execution"]["executionId"]]) == before
    assert ClOrdIdKey.objects.filter(order_id=root_id).exists()
    run = PurgeRun.objects.get(pk=failure.value.run_id)
    assert run.status == "failed" and run.counts == {} and run.archive_path == "" and run.error
    assert PurgeRun.objects.filter(status="done").count() == 0


def test_dry_run_counts_and_changes_nothing(trader: Desk, archive_dir: Path) -> None:
    tree = filled_tree(trader)
    root_id = tree["root"]["orderId"]
    before = snapshot(tree_ids(root_id), [tree["execution"]["executionId"]])
    report = purge(now=last_update(root_id) + 91 * DAY, dry_run=True)
    assert report.dry_run and report.counts["orders"] == 2 and report.counts["executions"] == 1
    assert report.runs == [] and not PurgeRun.objects.exists()
    assert snapshot(tree_ids(root_id), [tree["execution"]["executionId"]]) == before
    assert not archive_dir.exists() or not any(archive_dir.iterdir())


def test_replay_verify_passes_after_a_purge(trader: Desk, archive_dir: Path) -> None:
    gone = filled_tree(trader)
    working = trader.venue_order(10)
    trader.fill(working, 4)  # a working tree with an execution: kept
    report = purge(now=last_update(gone["root"]["orderId"]) + 91 * DAY)
    assert report.counts["orders"] == 2
    assert Order.objects.filter(root_id=working["parentId"]).count() == 2
    assert replay().ok
    out = io.StringIO()
    call_command("replay", "--verify", stdout=out)
    assert "0 difference(s)" in out.getvalue()


def test_batches_make_one_run_and_one_archive_each(trader: Desk, archive_dir: Path) -> None:
    roots = [filled_tree(trader)["root"]["orderId"] for _ in range(3)]
    now = max(last_update(r) for r in roots) + 91 * DAY
    report = purge(now=now, batch_size=2)
    assert len(report.runs) == 2 and len(set(report.archives)) == 2
    assert report.counts["orders"] == 6
    runs = PurgeRun.objects.filter(pk__in=report.runs)
    assert sorted(r.counts["orders"] for r in runs) == [2, 4]
    for r in runs:
        lines = list(read_archive(r.archive_path))
        seqs = [e["seq"] for line in lines for e in line["events"]]
        assert (r.seq_min, r.seq_max) == (min(seqs), max(seqs))
        assert sum(line["aggregate"] == "order" for line in lines) == r.counts["orders"]


def test_quote_requests_go_with_their_quotes(archive_dir: Path) -> None:
    from oms.quotes.models import Quote, QuoteIdKey, QuoteReqIdKey, QuoteRequest

    later = iso(dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
    request = new_request(side="Buy", orderQty="2", validUntilTime=later)
    quote = new_quote(request, bidPx=None, bidSize=None, offerPx="100", offerSize="2")
    open_now = dt.datetime.now(dt.UTC) + 31 * DAY
    assert purge(now=open_now).runs == []  # an open request (with an active quote) stays
    closed = dispatch(
        "quote-requests",
        {"commandType": "CancelQuoteRequestCommand", "quoteRequestId": request["quoteRequestId"]},
        actor="trader",
    ).body["quoteRequest"]
    assert Quote.objects.get(pk=quote["quoteId"]).status == "Canceled"
    report = purge(now=parse_time(closed["updatedAt"]) + 31 * DAY)
    assert report.counts["quote_requests"] == 1 and report.counts["quotes"] == 1
    assert not QuoteRequest.objects.filter(pk=request["quoteRequestId"]).exists()
    assert not Quote.objects.filter(pk=quote["quoteId"]).exists()
    assert not QuoteReqIdKey.objects.filter(pk=request["quoteReqID"]).exists()
    assert not QuoteIdKey.objects.filter(quote_id=quote["quoteId"]).exists()
    kinds = sorted(r["aggregate"] for r in read_archive(report.archives[0]))
    assert kinds == ["quote", "quote_request"]
    assert replay().ok


def test_purge_task_and_management_command(trader: Desk, archive_dir: Path) -> None:
    one, two = filled_tree(trader), filled_tree(trader)
    now = max(last_update(t["root"]["orderId"]) for t in (one, two)) + 91 * DAY
    out = io.StringIO()
    call_command("purge", "--dry-run", "--now", iso(now), stdout=out)
    assert json.loads(out.getvalue())["counts"]["orders"] == 4
    assert Order.objects.filter(root_id=one["root"]["orderId"]).exists()

    with pytest.raises(CommandError, match="in the future"):
        call_command("purge", "--now", iso(now), stdout=io.StringIO())
    assert Order.objects.filter(root_id=one["root"]["orderId"]).exists()
    out = io.StringIO()
    call_command("purge", "--now", iso(now), "--allow-future-now", "--batch-size", "1", stdout=out)
    answer = json.loads(out.getvalue())
    assert answer["counts"]["orders"] == 4 and len(answer["runs"]) == 2

    three = filled_tree(trader)
    result = purge_due.delay(iso(last_update(three["root"]["orderId"]) + 91 * DAY)).get()
    assert result["counts"]["orders"] == 2
    assert not Order.objects.filter(root_id=three["root"]["orderId"]).exists()
    with pytest.raises(CommandError):
        call_command("purge", "--now", "not-a-time", stdout=io.StringIO())


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the purge lock is a PostgreSQL advisory lock")
def test_a_second_purge_while_one_runs_does_nothing(trader: Desk, archive_dir: Path) -> None:
    import psycopg

    from oms.lifecycle.purge import _PURGE_LOCK_KEY

    tree = filled_tree(trader)
    root_id = tree["root"]["orderId"]
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params.pop("prepare_threshold", None)
    with psycopg.connect(
        **{k: v for k, v in params.items() if k in ("dbname", "user", "host", "port", "password")}
    ) as other:
        other.execute("SELECT pg_advisory_lock(%s)", [_PURGE_LOCK_KEY])
        report = purge(now=last_update(root_id) + 91 * DAY)
        assert report.busy and report.runs == []
        assert Order.objects.filter(root_id=root_id).count() == 2
    assert purge(now=last_update(root_id) + 91 * DAY).counts["orders"] == 2


def test_purge_runs_are_listed_read_only_in_the_admin(
    trader: Desk, archive_dir: Path, admin_user: Any
) -> None:
    from django.test import Client

    tree = filled_tree(trader)
    (run_id,) = purge(now=last_update(tree["root"]["orderId"]) + 91 * DAY, actor="ops:bob").runs
    client = Client()
    client.force_login(admin_user)
    listing = client.get("/admin/lifecycle/purgerun/")
    assert listing.status_code == 200 and b"ops:bob" in listing.content
    page = client.get(f"/admin/lifecycle/purgerun/{run_id}/change/")
    assert page.status_code == 200 and PurgeRun.objects.get(pk=run_id).archive_sha256.encode() in page.content
    assert client.post(f"/admin/lifecycle/purgerun/{run_id}/delete/", {"post": "yes"}).status_code == 403
    assert PurgeRun.objects.filter(pk=run_id).exists()


def test_the_purge_knows_executions_only_through_their_registered_participation() -> None:
    from executions.purging import EXECUTIONS

    assert EXECUTIONS in purge_participants()
    assert EXECUTIONS.aggregate == "execution"


def test_a_registered_participant_can_keep_an_order_tree(
    trader: Desk, archive_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = filled_tree(trader)
    root_id = tree["root"]["orderId"]
    seen: list[dict[str, str]] = []

    def members(owner: Any, cut: Any) -> list[tuple[str, str, bool]]:
        seen.append(dict(owner))
        return [(root, f"probe-{root}", True) for root in set(owner.values())]

    probe = PurgeParticipant(aggregate="probe", members=members, orphans=lambda cut, limit: [])
    monkeypatch.setitem(retention._PARTICIPANTS, "probe", probe)

    assert purge(now=last_update(root_id) + 1000 * DAY).runs == []
    assert Order.objects.filter(root_id=root_id).count() == 2
    assert Execution.objects.filter(pk=tree["execution"]["executionId"]).exists()
    assert seen and all(owner[root_id] == root_id for owner in seen)  # asked about the tree's orders

    monkeypatch.delitem(retention._PARTICIPANTS, "probe")
    assert purge(now=last_update(root_id) + 1000 * DAY).counts["orders"] == 2
