"""The venue registry: every venue the OMS routes to, event-sourced like orders (topic `venues`,
events on `venue-events`), one per venue name.

    UpsertVenueCommand        venue, adapter (MANUAL, SIM, ccxt:<exchangeId>), mode (Paper|Live): superuser
    RecordVenueFeedCommand    venue, feed (Healthy|Stale|Down), lastMessageAt, lastSeq: internal, sent
                              by the venue workers (never accepted over HTTP)

`GET /api/queries/venues` serves `venue`, `adapter`, `mode`, `armed`, `feed`, `lastMessageAt`,
`lastSeq`, `venueId`, `version`, `updatedAt` from the read-side registry. Arming is a control
(rules.controls: RequestArming/ConfirmArming/Disarm on `controls`), which sets `armed` here through
`venue_set_armed` in the same transaction.

What a new venue's feed is: a venue with an adapter starts `Down` (nothing heard from it yet: its
worker reports `Healthy` when its stream is up); `MANUAL` has no feed and is always `Healthy`.
A venue not in the registry is not checked at all (the first part of the contract knows none).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any, ClassVar

from django.conf import settings
from django.db import connection, transaction
from pydantic import Field, field_validator

from oms.core.commands import Command, Id, OptDateTime, choice
from oms.core.dispatch import Outcome, command_handler
from oms.core.documents import record_document
from oms.core.errors import NotFound
from oms.core.eventstore import AggregateType, UnitOfWork, register
from oms.core.readside import register_read
from oms.core.specification import Field as Criterion
from oms.core.specification import Specification
from rules.actors import require_superuser
from rules.enums import Feed, VenueMode
from rules.models import Venue, VenueEvent
from rules.records import OptTime, Record, definition_applier, new_id

TOPIC = "venues"
EVENT_TOPIC = "venue-events"
MANUAL = "MANUAL"
SIM = "SIM"
_CCXT = re.compile(r"^ccxt:[a-z0-9_]{1,50}$")


class VenueState(Record):
    venue_id: str
    venue: str
    adapter: str
    mode: VenueMode
    armed: bool = False
    feed: Feed
    last_message_at: OptTime = None
    last_seq: int | None = None

    @property
    def has_adapter(self) -> bool:
        """Orders here are sent by the OMS's own workers (and have a feed to watch)."""
        return self.adapter != MANUAL


def valid_adapter(adapter: str) -> bool:
    return adapter in (MANUAL, SIM) or _CCXT.match(adapter) is not None


class UpsertVenueCommand(Command):
    venue: Id
    adapter: Id
    mode: choice(VenueMode, required=True)  # type: ignore[valid-type]  # choice() returns an Annotated enum type built at runtime

    @field_validator("adapter")
    @classmethod
    def _known_adapter(cls, adapter: str) -> str:
        if not valid_adapter(adapter):
            raise ValueError("One of: MANUAL, SIM, ccxt:<exchangeId> (lower case).")
        return adapter


class RecordVenueFeedCommand(Command):
    """Internal: a venue worker's report of its stream (connected, stale, down) and how far it got."""

    internal: ClassVar[bool] = True

    venue: Id
    feed: choice(Feed, required=True)  # type: ignore[valid-type]  # choice() returns an Annotated enum type built at runtime
    last_message_at: OptDateTime = Field(None, alias="lastMessageAt")
    last_seq: int | None = Field(None, alias="lastSeq", ge=0)


VENUE_EVENTS = ("VenueUpdated", "VenueFeedChanged", "VenueFeedRecorded", "VenueArmed", "VenueDisarmed")

VENUE: AggregateType[VenueState] = register(
    AggregateType(
        name="venue",
        topic=EVENT_TOPIC,
        state_model=Venue,
        event_model=VenueEvent,
        apply=definition_applier(VenueState, "venueId", "VenueRegistered", VENUE_EVENTS),
        to_api=VenueState.to_api,
        document=record_document(
            VenueState,
            "VenueState",
            help={
                "adapter": "MANUAL, SIM or ccxt:<exchangeId>",
                "mode": "Paper or Live (Live accepts orders only while armed)",
                "feed": "Healthy, Stale or Down (new orders refused feed_stale unless Healthy)",
            },
        ),
        from_row=lambda row: VenueState.from_api(row.doc),
    )
)


class VenueSpecification(Specification):
    fields = {
        "venue_id": Criterion("venue_id", "in", param="venueId"),
        "venue": Criterion("venue", "in"),
        "adapter": Criterion("adapter", "in"),
        "mode": Criterion("mode", "in", choices=VenueMode),
        "feed": Criterion("feed", "in", choices=Feed),
    }
    orderings = {"venue": "venue", "updatedAt": "updated_at"}
    default_ordering = ("venue", "venue_id")
    id_column = "venue_id"


VENUES = register_read(VENUE, path="venues", specification=VenueSpecification)

# called when an upsert changes a venue's mode or adapter, in the same unit of work: the controls
# end its arming, armed or only requested (rules.controls registers)
DisarmHook = Callable[[UnitOfWork, VenueState, str], None]
_ON_DISARMED: list[DisarmHook] = []


def on_disarmed(fn: DisarmHook) -> DisarmHook:
    if fn not in _ON_DISARMED:
        _ON_DISARMED.append(fn)
    return fn


def _api(fields: dict[str, Any]) -> dict[str, Any]:
    """The fields as the API document writes them (what the events carry)."""
    probe = VenueState.model_validate(
        {
            "venueId": "-",
            "venue": "-",
            "adapter": MANUAL,
            "mode": VenueMode.PAPER.value,
            "feed": Feed.HEALTHY.value,
            "createdAt": "2000-01-01T00:00:00Z",
            "updatedAt": "2000-01-01T00:00:00Z",
            **fields,
        }
    ).to_api()
    return {k: probe[k] for k in fields}


def _locked(venue: str) -> VenueState | None:
    row = Venue.objects.select_for_update().filter(venue=venue).first()
    return None if row is None else VENUE.from_row(row)


def lock_venue(uow: UnitOfWork, venue: str) -> VenueState:
    """The venue's state for a change in this unit of work (row locked); 404 for an unknown venue."""
    state = _locked(venue)
    if state is None:
        raise NotFound(f"venue {venue} not found", fields={"venue": [f"No venue {venue} in the registry."]})
    return uow.state_of(VENUE, state.venue_id) or state


@command_handler(TOPIC, UpsertVenueCommand)
def venue_upsert(uow: UnitOfWork, *, venue: str, adapter: str, mode: VenueMode) -> Outcome:
    require_superuser(uow.ctx.actor, "venues")
    state = _locked(venue)
    if state is None:
        feed = Feed.HEALTHY if adapter == MANUAL else Feed.DOWN  # nothing heard from it yet
        data = _api(
            {"venue": venue, "adapter": adapter, "mode": mode.value, "armed": False, "feed": feed.value}
        )
        created = uow.emit(VENUE, new_id("V"), None, "VenueRegistered", data)
        return Outcome({"venue": VENUE.to_api(created)}, 201)
    changed = {
        k: v for k, v in _api({"adapter": adapter, "mode": mode.value}).items() if state.to_api()[k] != v
    }
    if not changed:
        return Outcome({"venue": VENUE.to_api(state)}, 200, duplicate=True)
    if state.armed:
        # armed for one mode and adapter is not armed for another: arming is confirmed again
        changed["armed"] = False
    if adapter == MANUAL and state.adapter != MANUAL:
        changed["feed"] = Feed.HEALTHY.value
    elif adapter != MANUAL and state.adapter == MANUAL:
        changed["feed"] = Feed.DOWN.value
    state = uow.emit(VENUE, state.venue_id, state, "VenueUpdated", changed)
    # an arming in progress ends too: a request made for Live is not one for Paper or another adapter
    for hook in _ON_DISARMED:
        hook(uow, state, f"venue {venue} changed ({', '.join(sorted(changed))})")
    return Outcome({"venue": VENUE.to_api(state)}, 200)


@command_handler(TOPIC, RecordVenueFeedCommand)
def venue_record_feed(
    uow: UnitOfWork,
    *,
    venue: str,
    feed: Feed,
    last_message_at: dt.datetime | None = None,
    last_seq: int | None = None,
) -> Outcome:
    """A change of health is an event (`VenueFeedChanged`); the same health with newer progress is
    recorded (`VenueFeedRecorded`) at most every OMS_VENUE_FEED_RECORD_SECONDS, so a worker may
    report on every heartbeat without flooding the event feed. A report older than the one stored
    (two workers, a late retry) changes nothing: it cannot flip a newer `Down` back to `Healthy`."""
    state = lock_venue(uow, venue)
    if (
        last_message_at is not None
        and state.last_message_at is not None
        and last_message_at < state.last_message_at
    ):
        return Outcome({"venue": VENUE.to_api(state)}, 200, duplicate=True)
    progress = {
        "lastMessageAt": last_message_at if last_message_at is not None else state.last_message_at,
        "lastSeq": last_seq if last_seq is not None else state.last_seq,
    }
    if feed != state.feed:
        state = uow.emit(
            VENUE, state.venue_id, state, "VenueFeedChanged", _api({"feed": feed.value, **progress})
        )
        return Outcome({"venue": VENUE.to_api(state)}, 200)
    data = _api(progress)
    current = state.to_api()
    due = (
        state.last_message_at is None
        or last_message_at is None
        or (last_message_at - state.last_message_at).total_seconds() >= settings.OMS_VENUE_FEED_RECORD_SECONDS
    )
    if not due or all(current[k] == v for k, v in data.items()):
        return Outcome({"venue": VENUE.to_api(state)}, 200, duplicate=True)
    state = uow.emit(VENUE, state.venue_id, state, "VenueFeedRecorded", data)
    return Outcome({"venue": VENUE.to_api(state)}, 200)


def venue_set_armed(uow: UnitOfWork, state: VenueState, armed: bool) -> VenueState:
    """Arm or disarm (the controls' handlers, in their unit of work)."""
    if state.armed == armed:
        return state
    return uow.emit(
        VENUE, state.venue_id, state, "VenueArmed" if armed else "VenueDisarmed", {"armed": armed}
    )


# --- lookups for the checks ---------------------------------------------------------------------


def venue_state(venue: str | None) -> VenueState | None:
    """The venue's registry entry, or None (not registered: not checked). One indexed read of the
    stored document; the pre-trade checks read it once per order (rules.intent.Lookups)."""
    if not venue:
        return None
    doc = Venue.objects.filter(venue=venue).values_list("doc", flat=True).first()
    return None if doc is None else VenueState.from_api(doc)


# (database, venue) -> the registry's adapter for it (None: not registered), as last read by a
# committed command: a report's "who may report" check takes it from here (see sent_by_adapter)
_ADAPTERS: dict[tuple[str, str], str | None] = {}
# true while the registry still says what the cache says: the adapter, or still no entry
_ADAPTER_GUARD = "SELECT 1 WHERE (SELECT adapter FROM venues WHERE venue = %s) IS NOT DISTINCT FROM %s"


def sent_by_adapter(venue: str | None, uow: UnitOfWork | None = None) -> bool:
    """Whether the OMS's own workers send the orders at `venue` and take its reports from its
    adapter (contract: "the desk never enters reports for them"): the registry's adapter when the
    venue is registered (a `BINANCE` on `ccxt:binance`), else the deployment's
    `OMS_VENUE_ADAPTERS` (SIM before anyone registers it), else the contract's names (`SIM`,
    `ccxt:<exchangeId>`). MANUAL and the desk's own venues (XNAS, a broker) have none.

    Asked with an optimistic unit of work (a report's first attempt), the registry's answer comes
    from the process's cache and the write pipeline checks it is still the registry's (a guard:
    the same adapter, or still no entry; only `UpsertVenueCommand` changes it, never the feed's
    progress): the desk's reports pay no round trip for the check. A changed registry costs the
    command one locked retry, which reads the row."""
    if not venue:
        return False
    key = _key(venue)
    if uow is not None and uow.optimistic and key in _ADAPTERS:
        adapter = _ADAPTERS[key]
        uow.guard(_ADAPTER_GUARD, [venue, adapter], f"venue {venue}")
        return _has_adapter(venue, adapter)
    return _has_adapter(venue, _read_adapter(key))


def reported_by_adapter_hint(venue: str | None) -> bool:
    """`sent_by_adapter` for a document's `allowedActions` (oms.orders.actions): the cached answer
    when there is one, unguarded, else one read kept once its transaction commits. A hint for the
    desk's buttons, so no guard in the write pipeline: the handlers' own check is the exact one,
    and a registry changed under the cache shows in the next document after the next report."""
    if not venue:
        return False
    key = _key(venue)
    return _has_adapter(venue, _ADAPTERS[key] if key in _ADAPTERS else _read_adapter(key))


def _key(venue: str) -> tuple[str, str]:
    return (f"{connection.alias}:{connection.settings_dict.get('NAME')}", venue)


def _read_adapter(key: tuple[str, str]) -> str | None:
    """The registry's adapter for the venue, kept in the cache once the reading transaction
    commits (only what a committed transaction read is kept: this one may have written the row)."""
    adapter = Venue.objects.filter(venue=key[1]).values_list("adapter", flat=True).first()
    transaction.on_commit(lambda: _ADAPTERS.__setitem__(key, adapter))
    return adapter


def forget_adapters() -> None:
    """Empty the cache (tests: a database rolled back under it costs retries, never a wrong answer)."""
    _ADAPTERS.clear()


def _has_adapter(venue: str, adapter: str | None) -> bool:
    if adapter is not None:
        return adapter != MANUAL
    configured = settings.OMS_VENUE_ADAPTERS.get(venue)
    if configured is not None:
        return bool(configured != MANUAL)
    return venue == SIM or _CCXT.match(venue) is not None
