"""Purge: terminal objects older than their retention leave the state store, archived first.

What goes, in groups that go whole or not at all:
- an order tree, when every order in it is terminal (Filled, Canceled, Rejected, Expired) and was
  last updated before the orders cut-off, with every execution of its orders, provided none of
  those is held for review (the desk could still allocate it to the tree) or was updated after the
  executions cut-off. A tree with one working member stays whole: a late fill must find it.
  DoneForDay is not terminal: a GTC order done for the day is restated and works again (G.1.a);
- a Rejected or Busted execution whose order no longer exists (never did, or was purged);
- a quote request, when it and all its quotes are terminal and older than their cut-offs, with
  its quotes; a terminal quote whose request is gone;
- with each object: all its events, and its rows in the derived indexes (ClOrdID, QuoteReqID,
  QuoteID keys), so `replay --verify` still finds state = f(events) afterwards.

How, per batch and in one transaction: take the purge lock (one purge at a time), lock the order
trees (root first, as commands do) and re-check them under the lock, begin a `running`
`PurgeRun`, write the archive (JSON lines: one object a line with its state and full event list),
fsync it and record its sha256, then delete: the events through the run (on PostgreSQL the
`SECURITY DEFINER` purge functions of `oms/lifecycle/audit.py`, the application role's only way to
delete an event; they count what they delete in the run), the state and index rows directly.
If anything fails before the commit, nothing is deleted (the archive file, if written, stays as
an unreferenced copy) and a `failed` PurgeRun is recorded in its own transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Exists, OuterRef, Q

from oms.core.eventfeed import event_to_api
from oms.core.eventstore import AggregateType, aggregate_type
from oms.core.parsing import iso
from oms.core.replay import derived_indexes
from oms.core.retention import purge_participants
from oms.lifecycle import audit
from oms.lifecycle.archive import write_archive
from oms.lifecycle.models import PurgeRun
from oms.orders.enums import OrdStatus
from oms.orders.models import Order

log = logging.getLogger(__name__)

ACTOR = "system:lifecycle"
TERMINAL_ORDER = [OrdStatus.FILLED, OrdStatus.CANCELED, OrdStatus.REJECTED, OrdStatus.EXPIRED]
# one purge at a time (PostgreSQL advisory lock; SQLite's write lock already serializes)
_PURGE_LOCK_KEY = 7_340_031  # any fixed bigint, the same for every purge
_CHUNK = 500


@dataclass
class Group:
    """Objects purged together: {aggregate type name: ids}."""

    ids: dict[str, list[str]] = field(default_factory=dict)

    def add(self, name: str, ids: list[str]) -> None:
        if ids:
            self.ids.setdefault(name, []).extend(ids)


@dataclass
class PurgeReport:
    now: dt.datetime
    dry_run: bool
    cutoffs: dict[str, dt.datetime]
    counts: dict[str, int] = field(default_factory=dict)
    runs: list[int] = field(default_factory=list)
    archives: list[str] = field(default_factory=list)
    busy: bool = False  # another purge held the lock: this run did nothing

    def add(self, counts: dict[str, int]) -> None:
        for key, value in counts.items():
            self.counts[key] = self.counts.get(key, 0) + value

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["now"] = iso(self.now)
        out["cutoffs"] = {k: iso(v) for k, v in self.cutoffs.items()}
        return out


class PurgeFailed(Exception):
    def __init__(self, run_id: int, cause: BaseException):
        super().__init__(f"purge run {run_id} failed, nothing was deleted: {cause!r}")
        self.run_id = run_id


def retention_days() -> dict[str, int]:
    return dict(settings.OMS_RETENTION_DAYS)


def cutoffs(now: dt.datetime, retention: dict[str, int]) -> dict[str, dt.datetime]:
    return {name: now - dt.timedelta(days=days) for name, days in retention.items()}


# --- selection ------------------------------------------------------------------------------------


def _quotes_installed() -> bool:
    try:
        aggregate_type("quote_request")
        aggregate_type("quote")
    except KeyError:
        return False
    return True


def _tree_candidates(cut: dict[str, dt.datetime], after: str, limit: int | None) -> list[str]:
    """Roots (by id, after `after`) whose whole tree looks purgeable (re-checked under lock)."""
    blocking = Order.objects.filter(root_id=OuterRef("root_id")).filter(
        ~Q(status__in=TERMINAL_ORDER) | Q(updated_at__gte=cut["orders"])
    )
    qs = (
        Order.objects.filter(order_id=models.F("root_id"), order_id__gt=after)
        .filter(status__in=TERMINAL_ORDER, updated_at__lt=cut["orders"])
        .filter(~Exists(blocking))
        .order_by("order_id")
        .values_list("order_id", flat=True)
    )
    return list(qs[:limit] if limit is not None else qs)


def _lock_trees(roots: list[str], cut: dict[str, dt.datetime], *, lock: bool) -> Group:
    """Lock the trees' orders (root first, as commands do) and keep the trees still purgeable.

    Returns the orders of the trees that qualify under the lock, with the objects the registered
    purge participants attach to them (executions); a participant's object can keep its tree.
    """
    qs = Order.objects.filter(root_id__in=roots).order_by("root_id", "kind")
    if lock and connection.vendor == "postgresql":
        qs = qs.select_for_update()
    members: dict[str, list[str]] = {}
    bad: set[str] = set()
    for order_id, root_id, status, updated_at in qs.values_list(
        "order_id", "root_id", "status", "updated_at"
    ):
        members.setdefault(root_id, []).append(order_id)
        if status not in TERMINAL_ORDER or updated_at >= cut["orders"]:
            bad.add(root_id)
    # every locked order, kept trees too: an object of a kept tree's order stays with that tree
    owner = {oid: root for root, oids in members.items() for oid in oids}
    attached: dict[str, dict[str, list[str]]] = {}  # aggregate -> root -> ids
    for participant in purge_participants():
        for root, object_id, keeps_tree in participant.members(owner, cut):
            attached.setdefault(participant.aggregate, {}).setdefault(root, []).append(object_id)
            if keeps_tree:
                bad.add(root)  # e.g. an execution the desk may still allocate to this tree
    group = Group()
    group.add("order", [oid for root, oids in members.items() if root not in bad for oid in oids])
    for name, by_root in attached.items():
        group.add(name, sorted({i for root, ids in by_root.items() if root not in bad for i in ids}))
    return group


def _quote_groups(cut: dict[str, dt.datetime], limit: int | None) -> Group:
    from oms.quotes.enums import QuoteRequestStatus, QuoteStatus
    from oms.quotes.models import Quote, QuoteRequest

    request_terminal = [
        QuoteRequestStatus.ACCEPTED,
        QuoteRequestStatus.CANCELED,
        QuoteRequestStatus.REJECTED,
        QuoteRequestStatus.EXPIRED,
    ]
    quote_terminal = [QuoteStatus.ACCEPTED, QuoteStatus.REJECTED, QuoteStatus.CANCELED, QuoteStatus.EXPIRED]
    blocking = Quote.objects.filter(quote_request_id=OuterRef("quote_request_id")).filter(
        ~Q(status__in=quote_terminal) | Q(updated_at__gte=cut["quotes"])
    )
    due = (
        QuoteRequest.objects.filter(status__in=request_terminal, updated_at__lt=cut["quote-requests"])
        .filter(~Exists(blocking))
        .order_by("quote_request_id")
        .values_list("quote_request_id", flat=True)
    )
    requests = list(due[:limit] if limit is not None else due)
    group = Group()
    group.add("quote_request", requests)
    for chunk in _chunks(requests):
        group.add(
            "quote", list(Quote.objects.filter(quote_request_id__in=chunk).values_list("quote_id", flat=True))
        )
    orphans = (
        Quote.objects.filter(status__in=quote_terminal, updated_at__lt=cut["quotes"])
        .filter(~Exists(QuoteRequest.objects.filter(quote_request_id=OuterRef("quote_request_id"))))
        .order_by("quote_id")
        .values_list("quote_id", flat=True)
    )
    group.add("quote", list(orphans[:limit] if limit is not None else orphans))
    return group


# --- the job ------------------------------------------------------------------------------------


def purge(
    *,
    now: dt.datetime | None = None,
    actor: str = ACTOR,
    dry_run: bool = False,
    retention: dict[str, int] | None = None,
    archive_dir: Path | str | None = None,
    batch_size: int = 500,
) -> PurgeReport:
    """Purge what is due at `now`: order trees by batches of `batch_size` roots, then the other
    groups (orphan executions, quote requests, quotes) by batches; one `PurgeRun` and one archive
    file per batch. `dry_run` only counts what would go."""
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    retention = {**retention_days(), **(retention or {})}
    cut = cutoffs(now, retention)
    directory = Path(archive_dir or settings.OMS_ARCHIVE_DIR)
    report = PurgeReport(now=now, dry_run=dry_run, cutoffs=cut)
    if dry_run:
        with transaction.atomic():
            group = _select(_tree_candidates(cut, "", None), cut, None, lock=False, trees_only=False)
            report.add(_count(group))
        return report
    after = ""
    trees_left = True
    while True:
        roots: list[str] = []
        if trees_left:
            roots = _tree_candidates(cut, after, batch_size)
            trees_left = len(roots) == batch_size
            if roots:
                after = roots[-1]
        run = _purge_batch(roots, cut, now, actor, retention, directory, batch_size, trees_only=trees_left)
        if run is None:
            report.busy = True
            break
        if run._state.adding:  # the unsaved run: nothing was due in this batch
            if trees_left:
                continue
            break
        report.runs.append(run.pk)
        report.archives.append(run.archive_path)
        report.add(run.counts)
    log.info("purge: %s", report.as_dict())
    return report


def _select(
    roots: list[str], cut: dict[str, dt.datetime], limit: int | None, *, lock: bool, trees_only: bool
) -> Group:
    group = _lock_trees(roots, cut, lock=lock) if roots else Group()
    if not trees_only:
        for participant in purge_participants():
            group.add(participant.aggregate, participant.orphans(cut, limit))
        if _quotes_installed():
            for name, ids in _quote_groups(cut, limit).ids.items():
                group.add(name, ids)
    return group


def _count(group: Group) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name, ids in group.ids.items():
        agg = aggregate_type(name)
        counts[_plural(agg)] = len(ids)
        counts[agg.event_model._meta.db_table] = sum(
            agg.event_model._default_manager.filter(aggregate_id__in=chunk).count() for chunk in _chunks(ids)
        )
    return counts


def _plural(agg: AggregateType[Any]) -> str:
    return agg.state_model._meta.db_table


def _take_purge_lock() -> bool:
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_xact_lock(%s)", [_PURGE_LOCK_KEY])
        return bool(cur.fetchone()[0])


def _purge_batch(
    roots: list[str],
    cut: dict[str, dt.datetime],
    now: dt.datetime,
    actor: str,
    retention: dict[str, int],
    directory: Path,
    limit: int,
    *,
    trees_only: bool,
) -> PurgeRun | None:
    """One transaction: returns the finished run, an unsaved run when nothing was due, or None
    when another purge holds the lock."""
    started = dt.datetime.now(dt.UTC)
    try:
        with transaction.atomic():
            if not _take_purge_lock():
                return None
            group = _select(roots, cut, limit, lock=True, trees_only=trees_only)
            if not group.ids:
                return PurgeRun(actor=actor, as_of=now, started_at=started)
            run_id = audit.purge_begin(actor=actor, as_of=now, started_at=started, retention=retention)
            path = directory / f"purge-{run_id:08d}-{now:%Y%m%dT%H%M%SZ}.jsonl"
            archive = write_archive(path, _records(group, run_id))
            counts = _delete(group, run_id)
            audit.purge_finish(
                run_id,
                counts=counts,
                archive_path=str(archive.path),
                sha256=archive.sha256,
                size=archive.size,
            )
            return PurgeRun.objects.get(pk=run_id)
    except Exception as exc:
        failed = audit.purge_failed(
            actor=actor, as_of=now, started_at=started, retention=retention, error=repr(exc)[:2000]
        )
        log.exception("purge run failed; nothing was deleted (recorded as purge run %s)", failed)
        raise PurgeFailed(failed, exc) from exc


def _records(group: Group, run_id: int) -> Iterator[dict[str, Any]]:
    """One archive line per object: its state row's document and its whole event list."""
    for name, ids in group.ids.items():
        agg = aggregate_type(name)
        for chunk in _chunks(sorted(ids)):
            docs = dict(agg.state_model._default_manager.filter(pk__in=chunk).values_list("pk", "doc"))
            events: dict[str, list[dict[str, Any]]] = {}
            for row in agg.event_model._default_manager.filter(aggregate_id__in=chunk).order_by(
                "aggregate_id", "version"
            ):
                events.setdefault(row.aggregate_id, []).append(event_to_api(row, agg.topic))
            for aggregate_id in chunk:
                yield {
                    "purgeRun": run_id,
                    "aggregate": name,
                    "topic": agg.topic,
                    "id": aggregate_id,
                    "state": docs.get(aggregate_id),
                    "events": events.get(aggregate_id, []),
                }


def _delete(group: Group, run_id: int) -> dict[str, int]:
    """Delete the group: its events through the purge run (`audit.purge_delete_events`, which
    counts them in the run), its state rows and derived index rows here. Returns the counts of
    the tables deleted here."""
    counts: dict[str, int] = {}
    indexes = derived_indexes()
    for name, ids in group.ids.items():
        agg = aggregate_type(name)
        rows = 0
        for chunk in _chunks(ids):
            audit.purge_delete_events(run_id, agg.event_model, chunk)
            rows += agg.state_model._default_manager.filter(pk__in=chunk).delete()[0]
            for ix in indexes:
                if ix.aggregate == name:
                    # the owner column comes first in a derived index (e.g. order_cl_ord_ids.order_id)
                    deleted = ix.model._default_manager.filter(**{f"{ix.fields[0]}__in": chunk}).delete()[0]
                    counts[ix.model._meta.db_table] = counts.get(ix.model._meta.db_table, 0) + deleted
        counts[_plural(agg)] = counts.get(_plural(agg), 0) + rows
    return counts


def _chunks(ids: list[str], size: int = _CHUNK) -> Iterator[list[str]]:
    for i in range(0, len(ids), size):
        yield ids[i : i + size]
