"""Arming of Live venues (topic `controls`, events on `control-events`): a Live venue accepts
orders only while armed (`venue_not_armed`), and arming takes two people.

    RequestArmingCommand      venue (Live): desk or superuser; then
    ConfirmArmingCommand      venue: by a different user (403 second_user_required otherwise)
    DisarmCommand             venue: desk or superuser; also withdraws a pending request

An arming is a control of kind `Arming` (rules.controls: the state, its events and its query); the
venue's `armed` (rules.venues) changes in the same transaction as its control.
"""

from __future__ import annotations

from oms.core.dispatch import Outcome, command_handler
from oms.core.errors import InvalidTransition
from oms.core.eventstore import UnitOfWork
from rules.actors import require_desk
from rules.controls import (
    CONTROL,
    TOPIC,
    ConfirmArmingCommand,
    ControlState,
    DisarmCommand,
    RequestArmingCommand,
    SecondUserRequired,
    command_time,
    control_outcome,
    control_source,
    iso_text,
)
from rules.enums import ControlKind, ControlScope, ControlStatus, VenueMode
from rules.models import Control
from rules.records import new_id
from rules.venues import VenueState, lock_venue, on_disarmed, venue_set_armed


def _arming_of(venue: str) -> ControlState | None:
    """The venue's arming in progress (requested or armed), locked."""
    row = (
        Control.objects.select_for_update()
        .filter(
            kind=ControlKind.ARMING.value,
            scope=ControlScope.VENUE.value,
            key=venue,
            status__in=[ControlStatus.REQUESTED.value, ControlStatus.ARMED.value],
        )
        .first()
    )
    return None if row is None else CONTROL.from_row(row)


@command_handler(TOPIC, RequestArmingCommand)
def arming_request(uow: UnitOfWork, *, venue: str, reason: str | None = None) -> Outcome:
    actor = uow.ctx.actor
    require_desk(actor, "arm a venue")
    state = lock_venue(uow, venue)
    if state.mode is not VenueMode.LIVE:
        raise InvalidTransition(
            state.mode.value,
            "RequestArming",
            f"venue {venue} is {state.mode.value}: only Live venues are armed",
        )
    current = _arming_of(venue)
    if current is not None:
        if current.status is ControlStatus.REQUESTED and current.requested_by == actor:
            return control_outcome(current, duplicate=True)  # asked again by the same user: the same request
        raise InvalidTransition(
            current.status.value,
            "RequestArming",
            f"venue {venue} is already armed"
            if current.status is ControlStatus.ARMED
            else f"arming of {venue} already requested by {current.requested_by}",
        )
    data = {
        "kind": ControlKind.ARMING.value,
        "scope": ControlScope.VENUE.value,
        "key": venue,
        "reason": reason,
        "status": ControlStatus.REQUESTED.value,
        "active": False,
        "source": control_source(actor, None).value,
        "requestedBy": actor,
        "requestedAt": iso_text(command_time(uow)),
    }
    return control_outcome(uow.emit(CONTROL, new_id("K"), None, "ArmingRequested", data), 201)


@command_handler(TOPIC, ConfirmArmingCommand)
def arming_confirm(uow: UnitOfWork, *, venue: str, reason: str | None = None) -> Outcome:
    actor = uow.ctx.actor
    require_desk(actor, "arm a venue")
    state = lock_venue(uow, venue)
    current = _arming_of(venue)
    if current is None or current.status is not ControlStatus.REQUESTED:
        status = current.status.value if current is not None else "NotRequested"
        raise InvalidTransition(status, "ConfirmArming", f"no arming of {venue} is waiting for confirmation")
    if current.requested_by == actor:
        raise SecondUserRequired(
            f"{actor} asked to arm {venue}: another user must confirm",
            fields={"venue": ["Arming is confirmed by a different user than the one who requested it."]},
        )
    if state.mode is not VenueMode.LIVE:  # an upsert withdraws the request (on_disarmed): kept as a guard
        raise InvalidTransition(state.mode.value, "ConfirmArming", f"venue {venue} is {state.mode.value}")
    data = {
        "status": ControlStatus.ARMED.value,
        "active": True,
        "engagedBy": actor,
        "engagedAt": iso_text(command_time(uow)),
    }  # the control keeps the requester's reason; the confirmer's is in its event's command
    control = uow.emit(CONTROL, current.control_id, current, "ArmingConfirmed", data)
    venue_set_armed(uow, state, True)
    return control_outcome(control)


def _disarm(uow: UnitOfWork, control: ControlState, reason: str | None) -> ControlState:
    data = {
        "status": ControlStatus.DISARMED.value,
        "active": False,
        "releasedBy": uow.ctx.actor,
        "releasedAt": iso_text(command_time(uow)),
        "releaseReason": reason,
    }
    return uow.emit(CONTROL, control.control_id, control, "Disarmed", data)


@command_handler(TOPIC, DisarmCommand)
def arming_disarm(uow: UnitOfWork, *, venue: str, reason: str | None = None) -> Outcome:
    """Disarm (or withdraw a pending request). Disarming a disarmed venue changes nothing (200): a
    desk pulling the plug twice must not see an error."""
    require_desk(uow.ctx.actor, "disarm a venue")
    state = lock_venue(uow, venue)
    current = _arming_of(venue)
    if current is None:
        venue_set_armed(uow, state, False)  # a venue armed without its control (never: kept safe)
        return Outcome({"control": None, "venue": state.to_api()}, 200, duplicate=uow.empty)
    control = _disarm(uow, current, reason)
    venue_set_armed(uow, state, False)
    return control_outcome(control)


@on_disarmed
def _venue_changed(uow: UnitOfWork, state: VenueState, reason: str) -> None:
    """A venue's mode or adapter changed (UpsertVenueCommand): its arming ends with it."""
    current = _arming_of(state.venue)
    if current is not None:
        _disarm(uow, current, reason)
