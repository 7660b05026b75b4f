"""The control plane: SAFE mode, arming of Live venues, the kill switch's record (topic `controls`,
events on `control-events`), and the `safe_mode` pre-trade check.

    EngageSafeModeCommand     scope (global|venue|account|symbol), key, reason: desk or superuser
    ReleaseSafeModeCommand    controlId, reason: superuser only; refused (409 open_discrepancies)
                              while the scope has an open discrepancy (open_discrepancies_in_scope)
    RequestArmingCommand,     venue: declared here, handled by rules.arming (two users arm a
    ConfirmArmingCommand,     Live venue; disarm also withdraws a pending request)
    DisarmCommand
    CancelAllCommand          scope, key: cancels every working order in scope (handled by the
                              orders app, oms/orders/kill_switch.py: rules knows no order)

A control is one engagement, kept once released: `GET /api/queries/controls?active=true&scope=&key=`
lists them (`controlId`, `kind` SafeMode|Arming, `scope`, `key`, `reason`, `active`, `engagedBy`,
`engagedAt`, `releasedBy`, `releasedAt`, `source`, `version`; plus `status`, `requestedBy`,
`requestedAt`, `releaseReason`). Every change is an event with its actor and reason. A venue's
`armed` (rules.venues) changes in the same transaction as its Arming control.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from pydantic import Field

from oms.core import sql
from oms.core.commands import Command, Id, OptQualifiedId, Text, choice
from oms.core.dispatch import Outcome, command_handler
from oms.core.documents import record_document
from oms.core.errors import ApplicationError, InvalidTransition, NotFound, ValidationFailed
from oms.core.eventstore import AggregateType, UnitOfWork, register
from oms.core.fold import Envelope
from oms.core.parsing import iso
from oms.core.readside import register_read
from oms.core.specification import Field as Criterion
from oms.core.specification import Specification
from rules.actors import SYSTEM_PREFIX, require_desk, require_superuser
from rules.enums import ControlKind, ControlScope, ControlSource, ControlStatus
from rules.errors import NotPermitted
from rules.models import CancelAll, CancelAllEvent, Control, ControlEvent
from rules.records import OptTime, Record, definition_applier, new_id
from rules.venues import VenueState

TOPIC = "controls"
EVENT_TOPIC = "control-events"
GLOBAL_KEY = "*"


class SecondUserRequired(ApplicationError):
    """Arming is confirmed by someone other than who asked for it (four eyes)."""

    code = "second_user_required"
    http_status = 403


class OpenDiscrepancies(ApplicationError):
    """SAFE mode stays while reconciliation still has an open discrepancy in its scope."""

    code = "open_discrepancies"
    http_status = 409


# --- the state -------------------------------------------------------------------------------------


class ControlState(Record):
    control_id: str
    kind: ControlKind
    scope: ControlScope
    key: str
    reason: str | None = None
    status: ControlStatus
    active: bool
    source: ControlSource
    engaged_by: str | None = None
    engaged_at: OptTime = None
    released_by: str | None = None
    released_at: OptTime = None
    release_reason: str | None = None
    requested_by: str | None = None  # Arming: who asked (the confirmer must be someone else)
    requested_at: OptTime = None


# event -> the statuses it may follow: `apply` refuses any other, live and in replay --verify
_FOLLOWS: dict[str, set[ControlStatus]] = {
    "SafeModeReleased": {ControlStatus.ACTIVE},
    "ArmingConfirmed": {ControlStatus.REQUESTED},
    "Disarmed": {ControlStatus.REQUESTED, ControlStatus.ARMED},
}
_apply_safe_mode = definition_applier(ControlState, "controlId", "SafeModeEngaged", ["SafeModeReleased"])
_apply_arming = definition_applier(
    ControlState, "controlId", "ArmingRequested", ["ArmingConfirmed", "Disarmed"]
)
SAFE_MODE_EVENTS = ("SafeModeEngaged", "SafeModeReleased")
ARMING_EVENTS = ("ArmingRequested", "ArmingConfirmed", "Disarmed")


def apply_control(state: ControlState | None, env: Envelope) -> ControlState:
    allowed = _FOLLOWS.get(env.type)
    if state is not None and allowed is not None and state.status not in allowed:
        raise InvalidTransition(state.status.value, env.type)
    return (_apply_safe_mode if env.type in SAFE_MODE_EVENTS else _apply_arming)(state, env)


CONTROL: AggregateType[ControlState] = register(
    AggregateType(
        name="control",
        topic=EVENT_TOPIC,
        state_model=Control,
        event_model=ControlEvent,
        apply=apply_control,
        to_api=ControlState.to_api,
        document=record_document(
            ControlState,
            "ControlState",
            help={
                "key": 'the venue, account or symbol (VENUE:SYMBOL: a symbol at one venue); "*" for global',
                "status": "SafeMode: Active, Released; Arming: Requested, Armed, Disarmed",
            },
        ),
        from_row=lambda row: ControlState.from_api(row.doc),
    )
)


class Flag(StrEnum):
    """A boolean query parameter (`active=true`)."""

    TRUE = "true"
    FALSE = "false"


class ControlSpecification(Specification):
    fields = {
        "control_id": Criterion("control_id", "in", param="controlId"),
        "kind": Criterion("kind", "in", choices=ControlKind),
        "scope": Criterion("scope", "in", choices=ControlScope),
        "key": Criterion("key", "in"),
        "status": Criterion("status", "in", choices=ControlStatus),
        "source": Criterion("source", "in", choices=ControlSource),
        "active": Criterion("active", choices=Flag, kind="bool"),
    }
    orderings = {"createdAt": "created_at", "updatedAt": "updated_at"}
    default_ordering = ("-created_at", "-control_id")
    id_column = "control_id"


CONTROLS = register_read(CONTROL, path="controls", specification=ControlSpecification)


# --- the kill switch's record (written by oms/orders/kill_switch.py) ------------------------------


class CancelAllState(Record):
    cancel_all_id: str
    scope: ControlScope
    key: str
    reason: str | None = None
    canceled: list[str] = []  # canceled at once (client orders: the OMS is their counterparty)
    cancel_requested: list[str] = []  # pending cancel: their venue (worker or desk) confirms
    skipped: list[dict[str, str]] = []  # in scope but not cancelable now (orderId, status, why)


CANCEL_ALL: AggregateType[CancelAllState] = register(
    AggregateType(
        name="cancel_all",
        topic=EVENT_TOPIC,
        state_model=CancelAll,
        event_model=CancelAllEvent,
        apply=definition_applier(CancelAllState, "cancelAllId", "CancelAllExecuted", []),
        to_api=CancelAllState.to_api,
        document=record_document(
            CancelAllState,
            "CancelAllState",
            help={
                "canceled": "orderIds canceled at once",
                "cancelRequested": "orderIds now PendingCancel: their venue (or the desk) confirms",
                "skipped": "in scope, not cancelable now: orderId, status, why",
            },
        ),
        from_row=lambda row: CancelAllState.from_api(row.doc),
    )
)


class CancelAllSpecification(Specification):
    fields = {
        "cancel_all_id": Criterion("cancel_all_id", "in", param="cancelAllId"),
        "scope": Criterion("scope", "in", choices=ControlScope),
        "key": Criterion("key", "in"),
    }
    orderings = {"createdAt": "created_at"}
    default_ordering = ("-created_at", "-cancel_all_id")
    id_column = "cancel_all_id"


CANCEL_ALLS = register_read(CANCEL_ALL, path="cancel-alls", specification=CancelAllSpecification)


# --- commands --------------------------------------------------------------------------------------


class EngageSafeModeCommand(Command):
    scope: choice(ControlScope, required=True)  # type: ignore[valid-type]  # choice() returns an Annotated enum type built at runtime
    key: OptQualifiedId = None
    reason: Text = None
    source: choice(ControlSource) = None  # type: ignore[valid-type]  # choice() returns an Annotated enum type built at runtime


class ReleaseSafeModeCommand(Command):
    control_id: Id = Field(alias="controlId")
    reason: Text = None


class VenueControlCommand(Command):
    venue: Id
    reason: Text = None


class RequestArmingCommand(VenueControlCommand):
    pass


class ConfirmArmingCommand(VenueControlCommand):
    pass


class DisarmCommand(VenueControlCommand):
    pass


class CancelAllCommand(Command):
    scope: choice(ControlScope, required=True)  # type: ignore[valid-type]  # choice() returns an Annotated enum type built at runtime
    key: OptQualifiedId = None
    reason: Text = None


def scope_key(scope: ControlScope, key: str | None) -> str:
    """The stored key: "*" for global (which takes none), the key itself for the others."""
    if scope is ControlScope.GLOBAL:
        if key not in (None, "", GLOBAL_KEY):
            raise ValidationFailed(
                "the global scope takes no key", fields={"key": ["Must be empty for scope global."]}
            )
        return GLOBAL_KEY
    if not key:
        raise ValidationFailed(
            f"scope {scope.value} needs a key", fields={"key": [f"Required for scope {scope.value}."]}
        )
    return key


def _required_reason(reason: str | None, what: str) -> str:
    if not reason:
        raise ValidationFailed(f"{what} needs a reason", fields={"reason": ["This field is required."]})
    return reason


_SYSTEM_SOURCES = {"reconciliation": ControlSource.RECONCILIATION, "watchdog": ControlSource.WATCHDOG}


def control_source(actor: str, asked: ControlSource | None) -> ControlSource:
    """A person engages as the desk (API, blotter) or the admin; reconciliation and the watchdog are
    the OMS's own jobs (actor `system:reconciliation`, `system:watchdog`): no person may pose as one."""
    system = actor.startswith(SYSTEM_PREFIX)
    if asked is not None:
        if not system and asked not in (ControlSource.DESK, ControlSource.ADMIN):
            raise NotPermitted(f"only the OMS's own jobs engage as {asked.value}")
        return asked
    if system:
        return _SYSTEM_SOURCES.get(actor.removeprefix(SYSTEM_PREFIX), ControlSource.ADMIN)
    return ControlSource.DESK


def control_outcome(state: ControlState, status: int = 200, duplicate: bool = False) -> Outcome:
    return Outcome({"control": CONTROL.to_api(state)}, status, duplicate=duplicate)


def command_time(uow: UnitOfWork) -> dt.datetime:
    return uow.ctx.now


@command_handler(TOPIC, EngageSafeModeCommand)
def safe_mode_engage(
    uow: UnitOfWork,
    *,
    scope: ControlScope,
    key: str | None = None,
    reason: str | None = None,
    source: ControlSource | None = None,
) -> Outcome:
    actor = uow.ctx.actor
    require_desk(actor, "engage SAFE mode")
    stored_key = scope_key(scope, key)
    why = _required_reason(reason, "SAFE mode")
    origin = control_source(actor, source)
    # one SAFE mode per scope: engaging it again (another desk, reconciliation on top of the desk)
    # answers the one in force; its release still waits for every open discrepancy
    row = (
        Control.objects.select_for_update()
        .filter(kind=ControlKind.SAFE_MODE.value, active=True, scope=scope.value, key=stored_key)
        .first()
    )
    if row is not None:
        return control_outcome(CONTROL.from_row(row), duplicate=True)
    data = {
        "kind": ControlKind.SAFE_MODE.value,
        "scope": scope.value,
        "key": stored_key,
        "reason": why,
        "status": ControlStatus.ACTIVE.value,
        "active": True,
        "source": origin.value,
        "engagedBy": actor,
        "engagedAt": iso_text(command_time(uow)),
    }
    return control_outcome(uow.emit(CONTROL, new_id("K"), None, "SafeModeEngaged", data), 201)


# --- the discrepancy hook (positions and reconciliation register their count) ---------------------

DiscrepancyCounter = Callable[[str, str], int]
_DISCREPANCY_COUNTERS: list[DiscrepancyCounter] = []


def register_open_discrepancies(counter: DiscrepancyCounter) -> DiscrepancyCounter:
    """`counter(scope, key)` -> how many open discrepancies reconciliation holds in that scope
    (scope "global" with key "*" asks for all of them)."""
    if counter not in _DISCREPANCY_COUNTERS:
        _DISCREPANCY_COUNTERS.append(counter)
    return counter


def open_discrepancies_in_scope(scope: str, key: str) -> int:
    return sum(counter(scope, key) for counter in _DISCREPANCY_COUNTERS)


def _lock(control_id: str) -> ControlState:
    row = Control.objects.select_for_update().filter(pk=control_id).first()
    if row is None:
        raise NotFound(
            f"control {control_id} not found", fields={"controlId": [f"No control '{control_id}'."]}
        )
    return CONTROL.from_row(row)


@command_handler(TOPIC, ReleaseSafeModeCommand)
def safe_mode_release(uow: UnitOfWork, *, control_id: str, reason: str | None = None) -> Outcome:
    actor = uow.ctx.actor
    require_superuser(actor, "SAFE mode (release)")
    why = _required_reason(reason, "releasing SAFE mode")
    control = _lock(control_id)
    if control.kind is not ControlKind.SAFE_MODE:
        raise InvalidTransition(
            control.status.value, "ReleaseSafeMode", f"control {control_id} is an arming: use DisarmCommand"
        )
    if control.status is not ControlStatus.ACTIVE:
        raise InvalidTransition(
            control.status.value, "ReleaseSafeMode", f"control {control_id} is already released"
        )
    open_count = open_discrepancies_in_scope(control.scope.value, control.key)
    if open_count:
        raise OpenDiscrepancies(
            f"{open_count} open discrepanc{'y' if open_count == 1 else 'ies'} in {control.scope.value} "
            f"{control.key}: resolve them before releasing SAFE mode",
            openDiscrepancies=open_count,
        )
    data = {
        "status": ControlStatus.RELEASED.value,
        "active": False,
        "releasedBy": actor,
        "releasedAt": iso_text(command_time(uow)),
        "releaseReason": why,
    }
    return control_outcome(uow.emit(CONTROL, control.control_id, control, "SafeModeReleased", data))


# --- what holds an order (the pre-trade checks read it once per order: rules.intent.Lookups) -------

# The order's venue and the SAFE modes among its (scope, key) pairs, in one statement (a fixed
# string: the ORM's query building cost more than the reads). "key" is quoted: a keyword in SQLite.
# Its rows are shaped like the reference read's (rules.reference: a tag, then six columns, the
# document fourth, as text like the book's levels there) so that a new order sends both as one
# statement (rules.pretrade.prefetch).
IN_FORCE_VENUE, IN_FORCE_CONTROL = 1, 2
IN_FORCE_SQL = (
    "SELECT 1, NULL, NULL, CAST(doc AS TEXT), NULL, NULL, NULL FROM venues WHERE venue = %s "
    "UNION ALL SELECT 2, NULL, NULL, CAST(doc AS TEXT), NULL, NULL, NULL FROM controls WHERE kind = %s AND active = %s AND ("
    "(scope = 'global' AND \"key\" = '*') OR (scope = 'venue' AND \"key\" = %s) "
    "OR (scope = 'account' AND \"key\" = %s) OR (scope = 'symbol' AND \"key\" IN (%s, %s)))"
)
InForce = tuple[VenueState | None, list[ControlState]]
# On PostgreSQL, a new order at a venue sends the reference read (rules.reference: tag 0) and
# IN_FORCE_SQL's rows as one call of rules_pretrade_read (rules/migrations/0010): the same tags
# and columns, but its statement keeps a generic plan where the UNION statement was planned on
# every create under the connection's force_custom_plan (docs/benchmarks.md §41).
READ_WITH_IN_FORCE_SQL = "SELECT * FROM rules_pretrade_read(%s, %s, %s, %s, %s)"
# (name, argument types): the migration revokes EXECUTE from PUBLIC, and every `migrate` grants it
# to the application role (oms.lifecycle.roles.grant), as for the tables: closed until granted.
PRETRADE_READ_FUNCTION = ("rules_pretrade_read", "text, text, text, text, text")


def read_with_in_force_params(venue: str, account: str | None, symbol: str) -> list[Any]:
    """READ_WITH_IN_FORCE_SQL's parameters: the scopes `in_force_params` gives for a venue."""
    return [venue, symbol, ControlKind.SAFE_MODE.value, account or "", f"{venue}:{symbol}"]


# every new order at a venue reads its registry row: built once per exact text of the document
# (a feed report or a mode change is a new text). Shared between orders: the checks only read it.
_venue_of_text = sql.ByText(VenueState.from_api)


def in_force_params(venue: str | None, account: str | None, symbol: str | None) -> list[Any]:
    v, a, sym = venue or "", account or "", symbol or ""
    return [v, ControlKind.SAFE_MODE.value, True, v, a, sym, f"{v}:{sym}" if v else sym]


def in_force_of(rows: list[tuple[Any, ...]]) -> InForce:
    """The venue and the SAFE modes (oldest first) of IN_FORCE_SQL's rows (other tags ignored)."""
    venue_state: VenueState | None = None
    held: list[ControlState] = []
    for row in rows:
        if row[0] == IN_FORCE_VENUE:
            venue_state = _venue_of_text(row[3])
        elif row[0] == IN_FORCE_CONTROL:
            held.append(ControlState.from_api(sql.json_value(row[3])))
    held.sort(key=lambda c: (c.created_at, c.control_id))
    return venue_state, held


def in_force(venue: str | None, account: str | None, symbol: str | None) -> InForce:
    """The order's venue in the registry (None: not registered) and the SAFE modes that hold it,
    oldest first: global, its venue, its account, its symbol, its symbol at its venue. Uncached:
    a control engaged anywhere holds the next order read after its commit."""
    return in_force_of(sql.fetch_all(IN_FORCE_SQL, in_force_params(venue, account, symbol)))


def iso_text(value: dt.datetime) -> str:
    return iso(value) or ""
