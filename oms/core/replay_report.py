"""What replay reports and the derived indexes it rebuilds (the data; the run is `oms.core.replay`).

`DerivedIndex` is a table derived from one aggregate type's events (not a state table): domain
apps register theirs from `apps.ready`. `ReplayReport` holds the differences found, per type.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import models

from oms.core.fold import Envelope


@dataclass(frozen=True)
class DerivedIndex:
    """A table derived from one aggregate type's events (not a state table), rebuilt with it.

    `rows(env)` yields `(primary key, {column: value})` for the rows an event implies; the first
    event to name a key decides its values (later mentions by the same aggregate are repeats).
    """

    name: str
    aggregate: str
    model: type[models.Model]
    fields: tuple[str, ...]
    rows: Callable[[Envelope], Iterable[tuple[str, dict[str, Any]]]]


_INDEXES: dict[str, DerivedIndex] = {}


def register_index(index: DerivedIndex) -> DerivedIndex:
    _INDEXES[index.name] = index
    return index


def derived_indexes() -> list[DerivedIndex]:
    return list(_INDEXES.values())


@dataclass(frozen=True)
class Difference:
    aggregate: str
    aggregate_id: str
    where: str  # "state row", "column", "event v3", "events", "index <name>"
    field: str
    live: Any
    replayed: Any

    def __str__(self) -> str:
        return (
            f"{self.aggregate} {self.aggregate_id} [{self.where}] {self.field}: "
            f"live {self.live!r} != replayed {self.replayed!r}"
        )


@dataclass
class TypeReport:
    name: str
    aggregates: int = 0
    events: int = 0
    rows_checked: int = 0
    rows_updated: int = 0
    rows_created: int = 0
    rows_deleted: int = 0
    index_rows: int = 0
    index_updated: int = 0
    index_created: int = 0
    index_deleted: int = 0
    differences: int = 0
    seconds: float = 0.0


@dataclass
class ReplayReport:
    mode: str
    types: list[TypeReport] = field(default_factory=list)
    differences: list[Difference] = field(default_factory=list)  # the first `max_differences`
    difference_count: int = 0
    broken_log: int = 0  # problems in the event log itself (gaps, events apply refuses)
    seconds: float = 0.0

    @property
    def events(self) -> int:
        return sum(t.events for t in self.types)

    @property
    def aggregates(self) -> int:
        return sum(t.aggregates for t in self.types)

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    @property
    def ok(self) -> bool:
        return self.difference_count == 0


class ReplayAborted(Exception):
    """A rebuild refused to write: the event log itself is damaged (see the report)."""

    def __init__(self, report: ReplayReport):
        super().__init__(f"the event log has {report.broken_log} problem(s); nothing was rewritten")
        self.report = report


def format_report(report: ReplayReport, *, limit: int = 50) -> list[str]:
    """Human-readable lines: the differences (up to `limit`), then a summary per type."""
    lines = [str(d) for d in report.differences[:limit]]
    if report.difference_count > limit:
        lines.append(f"... and {report.difference_count - limit} more difference(s)")
    for t in report.types:
        line = (
            f"{t.name}: {t.aggregates} aggregates, {t.events} events, {t.rows_checked} state rows, "
            f"{t.index_rows} index rows, {t.differences} difference(s), {t.seconds:.2f} s"
        )
        if report.mode == "rebuild":
            line += (
                f"; rows updated {t.rows_updated}, created {t.rows_created}, deleted {t.rows_deleted}; "
                f"index rows updated {t.index_updated}, created {t.index_created}, deleted {t.index_deleted}"
            )
        lines.append(line)
    lines.append(
        f"{report.mode}: {report.events} events of {report.aggregates} aggregates in {report.seconds:.2f} s "
        f"({report.events_per_second:,.0f} events/s), {report.difference_count} difference(s)"
    )
    return lines
