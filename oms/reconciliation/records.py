"""The discrepancy and the reconciliation run as event-sourced aggregates (topic
`discrepancy-events`), and their queries:

    GET /api/queries/discrepancies?venue=&status=&kind=&runId=   (contract fields first)
    GET /api/queries/reconciliation-runs?venue=

A discrepancy is `DiscrepancyFound` (Open) then `DiscrepancyResolved` (Resolved, once); a run is
one `ReconciliationRunCompleted`: what it checked, what it found, how long it took.

Why both on `discrepancy-events` and not `venue-events`: the desk's discrepancy queue (and a
downstream risk service) follows one topic to see every discrepancy and the run that found it;
`venue-events` carries the registry's heartbeats (feed progress every few seconds), which such a
consumer would have to filter out.
"""

from __future__ import annotations

from typing import Any

from oms.core.documents import record_document
from oms.core.errors import InvalidTransition
from oms.core.eventstore import AggregateType, register
from oms.core.fold import Envelope
from oms.core.readside import register_read
from oms.core.specification import Field as Criterion
from oms.core.specification import Specification
from oms.reconciliation.enums import DiscrepancyKind, DiscrepancyStatus, RunTrigger
from oms.reconciliation.models import Discrepancy, DiscrepancyEvent, ReconciliationRun, ReconciliationRunEvent
from rules.records import OptTime, Record, Time, definition_applier

EVENT_TOPIC = "discrepancy-events"


class DiscrepancyState(Record):
    discrepancy_id: str
    run_id: str
    kind: DiscrepancyKind
    venue: str
    account: str | None = None
    symbol: str | None = None
    oms: dict[str, Any] | None = None  # the OMS's side (null: the OMS has none)
    venue_value: dict[str, Any] | None = None  # the venue's side (null: the venue has none)
    status: DiscrepancyStatus
    subject: str
    text: str
    order_id: str | None = None  # the OMS order concerned (an adopted one for unknown_venue_order)
    safe_mode_scope: str  # the SAFE mode it engaged: "symbol" (VENUE:SYMBOL) or "venue"
    safe_mode_key: str
    resolved_by: str | None = None
    resolved_at: OptTime = None
    resolve_reason: str | None = None


_apply_discrepancy = definition_applier(
    DiscrepancyState, "discrepancyId", "DiscrepancyFound", ["DiscrepancyResolved"]
)


def apply_discrepancy(state: DiscrepancyState | None, env: Envelope) -> DiscrepancyState:
    if env.type == "DiscrepancyResolved" and state is not None and state.status is not DiscrepancyStatus.OPEN:
        raise InvalidTransition(state.status.value, env.type)  # resolved once: live and in replay
    return _apply_discrepancy(state, env)


DISCREPANCY: AggregateType[DiscrepancyState] = register(
    AggregateType(
        name="discrepancy",
        topic=EVENT_TOPIC,
        state_model=Discrepancy,
        event_model=DiscrepancyEvent,
        apply=apply_discrepancy,
        to_api=DiscrepancyState.to_api,
        document=record_document(
            DiscrepancyState,
            "DiscrepancyState",
            help={
                "runId": "the run that found it",
                "account": "null when the venue does not say (an order report)",
                "oms": "the OMS's side (null: the OMS has none)",
                "venueValue": "the venue's side (null: the venue has none)",
                "subject": (
                    "what differs: position|ACCOUNT|SYMBOL, order|<id>, fill|<execID>, "
                    "balance|ACCOUNT|CURRENCY (a position_mismatch of cash; ACCOUNT empty for a venue-wide wallet)"
                ),
                "orderId": "the OMS order concerned (the adopted one for a venue order the OMS never sent)",
                "safeModeScope": "the SAFE mode it engaged: symbol (VENUE:SYMBOL) or venue",
            },
        ),
        from_row=lambda row: DiscrepancyState.from_api(row.doc),
    )
)


class DiscrepancySpecification(Specification):
    fields = {
        "discrepancy_id": Criterion("discrepancy_id", "in", param="discrepancyId"),
        "run_id": Criterion("run_id", "in", param="runId"),
        "venue": Criterion("venue", "in"),
        "status": Criterion("status", "in", choices=DiscrepancyStatus),
        "kind": Criterion("kind", "in", choices=DiscrepancyKind),
        "account": Criterion("account", "in"),
        "symbol": Criterion("symbol", "in"),
    }
    orderings = {"createdAt": "created_at", "updatedAt": "updated_at"}
    default_ordering = ("-created_at", "-discrepancy_id")
    id_column = "discrepancy_id"


DISCREPANCIES = register_read(DISCREPANCY, path="discrepancies", specification=DiscrepancySpecification)


class RunState(Record):
    run_id: str
    venue: str
    trigger: RunTrigger
    checked: dict[str, int]  # {"orders", "fills", "positions", "balances"}: how many of each were compared
    repaired: dict[str, int]  # {"fills", "orders"}: fills re-pulled, orders brought to the venue's
    discrepancy_ids: list[str]  # every discrepancy the run found (new or still open)
    new_discrepancy_ids: list[str]
    safe_mode: bool
    started_at: Time
    finished_at: Time
    duration_ms: int


RUN: AggregateType[RunState] = register(
    AggregateType(
        name="reconciliation_run",
        topic=EVENT_TOPIC,
        state_model=ReconciliationRun,
        event_model=ReconciliationRunEvent,
        apply=definition_applier(RunState, "runId", "ReconciliationRunCompleted", []),
        to_api=RunState.to_api,
        document=record_document(
            RunState,
            "ReconciliationRunState",
            help={
                "checked": "orders, fills, positions, balances compared",
                "repaired": "fills re-pulled, orders brought to the venue's",
                "discrepancyIds": "every discrepancy it found",
                "newDiscrepancyIds": "those it opened",
            },
        ),
        from_row=lambda row: RunState.from_api(row.doc),
    )
)


class RunSpecification(Specification):
    fields = {
        "run_id": Criterion("run_id", "in", param="runId"),
        "venue": Criterion("venue", "in"),
    }
    orderings = {"createdAt": "created_at"}
    default_ordering = ("-created_at", "-run_id")
    id_column = "run_id"


RUNS = register_read(RUN, path="reconciliation-runs", specification=RunSpecification)
