"""The reconciliation commands on `venues` (desk or superuser) and the internal one that records
a discrepancy:

    RunReconciliationCommand     venue: reconcile now; answers {"runId", "venue", "checked":
                                 {"orders", "fills", "positions"}, "discrepancies": [...], "safeMode"}
    ResolveDiscrepancyCommand    discrepancyId, reason: re-checks at the venue (its fills re-pulled
                                 first); refused 409 `discrepancy_persists` while it still differs
    RecordDiscrepancyCommand     internal (actor system:reconciliation): a discrepancy, the dirty
                                 flag of its position and SAFE mode of its scope, in one transaction

The run and the re-check read the venue through its adapter (never SIM's internals) and repair
through nested commands (the one write path), each in a savepoint of the command's transaction:
an error anywhere rolls the whole run back. A new discrepancy is an alert: an `ALERT` log line,
`oms_reconciliation_discrepancies_total` and the `DiscrepancyFound` event on discrepancy-events.
"""

from __future__ import annotations

import datetime as dt
import logging
from contextvars import ContextVar
from typing import Any, ClassVar

from django.conf import settings
from pydantic import Field

from oms.core import ambient
from oms.core.commands import Command, Id, OptId, Text, choice
from oms.core.dispatch import Outcome, command_handler, dispatch
from oms.core.errors import ApplicationError, InvalidTransition, NotFound, ValidationFailed
from oms.core.eventstore import UnitOfWork
from oms.positions.dirty import position_clear_dirty, position_mark_dirty
from oms.reconciliation import runner
from oms.reconciliation.compare import Finding
from oms.reconciliation.enums import DiscrepancyKind, DiscrepancyStatus, RunTrigger
from oms.reconciliation.metrics import DISCREPANCIES, RUN_SECONDS, RUNS, SYSTEMIC
from oms.reconciliation.models import Discrepancy, ReconciliationRun
from oms.reconciliation.records import DISCREPANCY, RUN, DiscrepancyState
from oms.venues.adapter import VenueAdapter, VenueError
from oms.venues.routing import adapter_for
from rules.actors import require_desk
from rules.controls import safe_mode_engage
from rules.enums import ControlScope, ControlSource
from rules.records import new_id
from rules.venues import TOPIC, venue_state

log = logging.getLogger(__name__)

ACTOR = "system:reconciliation"
_TRIGGER: ContextVar[RunTrigger] = ContextVar("reconciliation_trigger", default=RunTrigger.DEMAND)


class NoVenueAdapter(ApplicationError):
    """A venue without an adapter (MANUAL) has nothing to reconcile against."""

    code = "no_venue_adapter"
    http_status = 409


class VenueUnavailable(ApplicationError):
    """The venue could not be read: nothing was compared, nothing written (retry later)."""

    code = "venue_unavailable"
    http_status = 503


class DiscrepancyPersists(ApplicationError):
    """The venue still differs: resolving would hide it."""

    code = "discrepancy_persists"
    http_status = 409


class RunReconciliationCommand(Command):
    venue: Id


class ResolveDiscrepancyCommand(Command):
    discrepancy_id: Id = Field(alias="discrepancyId")
    reason: Text = None


class RecordDiscrepancyCommand(Command):
    """Internal: a reconciliation run found something different (never accepted over HTTP)."""

    internal: ClassVar[bool] = True

    run_id: Id = Field(alias="runId")
    kind: choice(DiscrepancyKind, required=True)  # type: ignore[valid-type]  # choice() returns an Annotated enum type built at runtime
    venue: Id
    account: OptId = None
    symbol: OptId = None
    subject: str = Field(max_length=200)
    oms: dict[str, Any] | None = None
    venue_value: dict[str, Any] | None = Field(None, alias="venueValue")
    text: str = Field(max_length=500)
    order_id: OptId = Field(None, alias="orderId")


def _adapter(venue: str) -> VenueAdapter:
    adapter = adapter_for(venue)
    if adapter is not None:
        return adapter
    if venue_state(venue) is None:
        raise NotFound(f"venue {venue} not found", fields={"venue": [f"No venue {venue} in the registry."]})
    raise NoVenueAdapter(
        f"venue {venue} has no adapter: its reports are entered by the desk",
        fields={"venue": [f"{venue} has no adapter to reconcile against."]},
    )


def _last_start(venue: str) -> dt.datetime | None:
    doc = (
        ReconciliationRun.objects.filter(venue=venue)
        .order_by("-created_at")
        .values_list("doc", flat=True)
        .first()
    )
    return None if doc is None else dt.datetime.fromisoformat(doc["startedAt"].replace("Z", "+00:00"))


def _record(run_id: str, venue: str, finding: Finding) -> dict[str, Any]:
    body = {
        "commandType": RecordDiscrepancyCommand.command_type(),
        "runId": run_id,
        "kind": finding.kind.value,
        "venue": venue,
        "account": finding.account,
        "symbol": finding.symbol,
        "subject": finding.subject,
        "oms": finding.oms,
        "venueValue": finding.venue_value,
        "text": finding.text[:500],
        "orderId": finding.order_id,
    }
    result = dispatch(TOPIC, {k: v for k, v in body.items() if v is not None}, actor=ACTOR)
    return result.body


@command_handler(TOPIC, RunReconciliationCommand)
def reconciliation_run(uow: UnitOfWork, *, venue: str) -> Outcome:
    require_desk(uow.ctx.actor, "run reconciliation")
    adapter = _adapter(venue)
    # ambient: a replayed session's run takes the recorded duration (its event carries it)
    run_id, started, clock = new_id("RR"), uow.ctx.now, ambient.monotonic()
    try:
        examined = runner.examine(adapter, _last_start(venue))
    except VenueError as exc:
        raise VenueUnavailable(f"venue {venue} could not be read: {exc.message}") from exc
    found, new_ids, safe = [], [], False
    for finding in examined.findings:
        body = _record(run_id, venue, finding)
        found.append(body["discrepancy"])
        safe = safe or bool(body.get("safeMode"))
        if not body["duplicate"]:
            new_ids.append(body["discrepancy"]["discrepancyId"])
    elapsed = ambient.monotonic() - clock
    trigger = _TRIGGER.get()
    RUNS.labels(venue, trigger.value).inc()
    RUN_SECONDS.labels(venue).observe(elapsed)
    data = {
        "venue": venue,
        "trigger": trigger.value,
        "checked": examined.checked,
        "repaired": examined.repaired,
        "discrepancyIds": [d["discrepancyId"] for d in found],
        "newDiscrepancyIds": new_ids,
        "safeMode": safe,
        "startedAt": started,
        "finishedAt": started + dt.timedelta(seconds=elapsed),
        "durationMs": round(elapsed * 1000),
    }
    uow.emit(RUN, run_id, None, "ReconciliationRunCompleted", _api_times(data))
    return Outcome(
        {
            "runId": run_id,
            "venue": venue,
            "checked": examined.checked,
            "discrepancies": found,
            "safeMode": safe,
        }
    )


def _api_times(data: dict[str, Any]) -> dict[str, Any]:
    """Times as the API writes them (the event's stored data)."""
    return {
        k: (v.isoformat().replace("+00:00", "Z") if isinstance(v, dt.datetime) else v)
        for k, v in data.items()
    }


def run_reconciliation(venue: str, trigger: RunTrigger, actor: str = ACTOR) -> dict[str, Any]:
    """Run one reconciliation as the OMS's own job (the beat entry, a stream resync, a worker)."""
    token = _TRIGGER.set(trigger)
    try:
        return dispatch(
            TOPIC, {"commandType": RunReconciliationCommand.command_type(), "venue": venue}, actor=actor
        ).body
    finally:
        _TRIGGER.reset(token)


def _scope(venue: str, symbol: str | None) -> tuple[ControlScope, str]:
    """A symbol at the venue (`VENUE:SYMBOL`); the whole venue for what names no symbol."""
    return (ControlScope.SYMBOL, f"{venue}:{symbol}") if symbol else (ControlScope.VENUE, venue)


@command_handler(TOPIC, RecordDiscrepancyCommand)
def discrepancy_record(
    uow: UnitOfWork,
    *,
    run_id: str,
    kind: DiscrepancyKind,
    venue: str,
    subject: str,
    text: str,
    account: str | None = None,
    symbol: str | None = None,
    oms: dict[str, Any] | None = None,
    venue_value: dict[str, Any] | None = None,
    order_id: str | None = None,
) -> Outcome:
    scope, key = _scope(venue, symbol)
    # SAFE mode first and always: the one in force answers (a duplicate), and one released by
    # mistake while this was open is engaged again
    control = safe_mode_engage(
        uow, scope=scope, key=key, reason=f"reconciliation: {text}"[:500], source=ControlSource.RECONCILIATION
    ).body["control"]
    row = (
        Discrepancy.objects.select_for_update()
        .filter(venue=venue, subject=subject, status=DiscrepancyStatus.OPEN.value)
        .first()
    )
    if row is not None:
        return Outcome({"discrepancy": row.doc, "safeMode": control["active"]}, 200, duplicate=True)
    discrepancy_id = new_id("D")
    data = {
        "runId": run_id,
        "kind": kind.value,
        "venue": venue,
        "account": account,
        "symbol": symbol,
        "oms": oms,
        "venueValue": venue_value,
        "status": DiscrepancyStatus.OPEN.value,
        "subject": subject,
        "text": text,
        "orderId": order_id,
        "safeModeScope": scope.value,
        "safeModeKey": key,
    }
    state = uow.emit(DISCREPANCY, discrepancy_id, None, "DiscrepancyFound", data)
    if account is not None and symbol is not None:
        position_mark_dirty(
            uow, account=account, venue=venue, symbol=symbol, reason=f"discrepancy:{discrepancy_id}"
        )
    DISCREPANCIES.labels(venue, kind.value).inc()
    log.error(
        "ALERT reconciliation %s: %s discrepancy %s (%s); SAFE mode %s %s",
        venue,
        kind.value,
        discrepancy_id,
        text,
        scope.value,
        key,
    )
    if symbol:
        _venue_wide(uow, venue, symbol)
    return Outcome({"discrepancy": DISCREPANCY.to_api(state), "safeMode": True}, 201)


def _venue_wide(uow: UnitOfWork, venue: str, symbol: str) -> None:
    """Open discrepancies on more than OMS_RECONCILE_VENUE_SAFE_SYMBOLS symbols of one venue are
    systemic (a venue that disagrees about everything: a wrong account, a broken feed, a venue
    incident), not a symbol's trouble: SAFE mode on the whole venue, with an alert. It is released
    like any SAFE mode, by a superuser, and not while a discrepancy of the venue is open."""
    limit = int(getattr(settings, "OMS_RECONCILE_VENUE_SAFE_SYMBOLS", 3))
    if limit <= 0:
        return
    open_rows = Discrepancy.objects.filter(venue=venue, status=DiscrepancyStatus.OPEN.value).exclude(
        symbol=""
    )
    symbols = {*open_rows.values_list("symbol", flat=True), symbol}  # this one is not written yet
    if len(symbols) <= limit:
        return
    reason = (
        f"reconciliation: discrepancies open on {len(symbols)} symbols of {venue} "
        f"(more than {limit}): systemic"
    )
    engaged = safe_mode_engage(
        uow, scope=ControlScope.VENUE, key=venue, reason=reason, source=ControlSource.RECONCILIATION
    )
    if not engaged.duplicate:
        SYSTEMIC.labels(venue).inc()
        log.error("ALERT reconciliation %s: %s; SAFE mode venue %s", venue, reason, venue)


def _what(state: DiscrepancyState) -> dict[str, str | None]:
    theirs, ours = state.venue_value or {}, state.oms or {}
    return {
        "kind": state.kind.value,
        "subject": state.subject,
        "account": state.account,
        "symbol": state.symbol,
        "orderId": state.order_id,
        "clOrdID": theirs.get("clOrdID") or ours.get("clOrdID"),
        "execID": theirs.get("execID"),
    }


@command_handler(TOPIC, ResolveDiscrepancyCommand)
def discrepancy_resolve(uow: UnitOfWork, *, discrepancy_id: str, reason: str | None = None) -> Outcome:
    require_desk(uow.ctx.actor, "resolve a discrepancy")
    if not reason:
        raise ValidationFailed(
            "resolving a discrepancy needs a reason", fields={"reason": ["This field is required."]}
        )
    row = Discrepancy.objects.select_for_update().filter(pk=discrepancy_id).first()
    if row is None:
        raise NotFound(
            f"discrepancy {discrepancy_id} not found",
            fields={"discrepancyId": [f"No discrepancy '{discrepancy_id}'."]},
        )
    state = DISCREPANCY.from_row(row)
    if state.status is not DiscrepancyStatus.OPEN:
        raise InvalidTransition(
            state.status.value, "ResolveDiscrepancy", f"discrepancy {discrepancy_id} is already resolved"
        )
    adapter = _adapter(state.venue)
    try:
        differs = runner.still_differs(adapter, _what(state))
    except VenueError as exc:
        raise VenueUnavailable(f"venue {state.venue} could not be read: {exc.message}") from exc
    if differs is not None:
        raise DiscrepancyPersists(
            f"discrepancy {discrepancy_id} still differs at the venue: {differs}",
            discrepancyId=discrepancy_id,
        )
    data = {
        "status": DiscrepancyStatus.RESOLVED.value,
        "resolvedBy": uow.ctx.actor,
        "resolvedAt": uow.ctx.now.isoformat().replace("+00:00", "Z"),
        "resolveReason": reason,
    }
    state = uow.emit(DISCREPANCY, state.discrepancy_id, state, "DiscrepancyResolved", data)
    if state.account is not None and state.symbol is not None:
        position_clear_dirty(
            uow,
            account=state.account,
            venue=state.venue,
            symbol=state.symbol,
            reason=f"discrepancy:{discrepancy_id}",
        )
    return Outcome({"discrepancy": DISCREPANCY.to_api(state)})
