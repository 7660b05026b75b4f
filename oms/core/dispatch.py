"""The command bus: one entry point for every command, from HTTP, forms, admin, tasks and tests.

    result = dispatch("orders", {"commandType": "CreateOrderCommand", ...}, actor="alice")

The body is parsed once, here, into the registered typed command (`oms.core.commands.Command`);
the handler gets the unit of work and the command's fields as typed keyword-only arguments
(`order_cancel(uow, *, order_id, cl_ord_id, ...)`). It runs the handler in one transaction with a
`UnitOfWork`, applies the contract's idempotency (an `Idempotency-Key` replays the first response;
natural keys are the handlers' business), and answers with the new state and the events appended. Any `ApplicationError`
rolls everything back: an error appends nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.conf import settings
from django.db import IntegrityError, OperationalError, connection, transaction

from oms.core import ambient, metrics
from oms.core.commands import Command
from oms.core.errors import (
    ApplicationError,
    Contended,
    IdempotencyKeyReused,
    ValidationFailed,
    VersionConflict,
)
from oms.core.eventstore import CommandContext, UnitOfWork
from oms.core.models import IdempotencyRecord
from oms.core.parsing import is_internal, unknown_fields

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """What a handler answers: the primary object(s) first, then dispatch adds the events."""

    body: dict[str, Any]
    status_code: int = 200
    duplicate: bool = False


# handler(uow, **command.arguments()): keyword-only typed arguments, the actor and time in uow.ctx
Handler = Callable[..., Outcome]
H = TypeVar("H", bound=Handler)


@dataclass(frozen=True)
class Registered:
    command: type[Command]
    handler: Handler


@dataclass
class CommandResult:
    status_code: int
    body: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    replayed: bool = False  # the stored answer to an Idempotency-Key seen before


_HANDLERS: dict[str, dict[str, Registered]] = {}

# failure(topic, body, actor, error): called after a command failed and everything it did was
# rolled back, outside its transaction (the rules engine records its refusals as events there)
FailureHook = Callable[[str, dict[str, Any], str, ApplicationError], None]
_FAILURE_HOOKS: list[FailureHook] = []


def on_failure(fn: FailureHook) -> FailureHook:
    if fn not in _FAILURE_HOOKS:
        _FAILURE_HOOKS.append(fn)
    return fn


def command_handler(topic: str, command: type[Command]) -> Callable[[H], H]:
    """Register `fn` as the handler of `command` (its class name is the contract's commandType)."""

    def register(fn: H) -> H:
        _HANDLERS.setdefault(topic, {})[command.command_type()] = Registered(command, fn)
        return fn

    return register


def command_types(topic: str) -> list[str]:
    return sorted(_HANDLERS.get(topic, {}))


def topics() -> list[str]:
    return sorted(_HANDLERS)


def request_hash(topic: str, body: dict[str, Any]) -> str:
    canonical = json.dumps([topic, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


# IntegrityError means a concurrent writer took a natural key or a version first; a retry sees
# its committed row and answers as a duplicate or a conflict instead. Each such retry follows
# another writer's commit (progress, not a livelock), and one command can meet several in a row
# (a child order opens two positions, its own and its parent's, each of which a concurrent
# command may open first): the optimistic attempt and up to four locked ones.
_RETRIES_ON_RACE = 5
_DEADLOCK = "40P01"  # PostgreSQL's deadlock_detected


def optimistic_writes() -> bool:
    """Whether a command's first attempt runs optimistically (settings.OMS_OPTIMISTIC_WRITES)."""
    return bool(getattr(settings, "OMS_OPTIMISTIC_WRITES", True))


class _Retry(Exception):
    """The optimistic attempt must be run again with locks (nothing was written)."""


@metrics.timed_command(_HANDLERS.get)  # latency and outcome per topic and commandType (oms_command_*)
def dispatch(
    topic: str,
    body: Any,
    *,
    actor: str,
    correlation_id: str | None = None,
    idempotency_key: str | None = None,
    external: bool = False,
) -> CommandResult:
    """`external`: sent by a client (the HTTP API), which may not send the OMS's internal commands."""
    if ambient.active() is None:
        return _dispatch(topic, body, actor, correlation_id, idempotency_key, external)
    # a session tape records (or replays) a command sent from outside the venue machinery with
    # what it drew; one sent by a driver already on the tape (a report, a reaction) is its part
    args = {"topic": topic, "body": body, "actor": actor, "correlationId": correlation_id}
    args.update(idempotencyKey=idempotency_key, external=external)
    with ambient.driver("dispatch", args):
        return _dispatch(topic, body, actor, correlation_id, idempotency_key, external)


def _dispatch(
    topic: str,
    body: Any,
    actor: str,
    correlation_id: str | None,
    idempotency_key: str | None,
    external: bool,
) -> CommandResult:
    registered = _resolve(topic, body, external)
    if idempotency_key is not None and (
        not (0 < len(idempotency_key) <= 255) or _unstorable(idempotency_key)
    ):
        raise ValidationFailed(
            "invalid Idempotency-Key", fields={"Idempotency-Key": ["1 to 255 characters, no NUL."]}
        )
    if correlation_id is not None and _unstorable(correlation_id):
        raise ValidationFailed(
            "invalid X-Correlation-ID", fields={"X-Correlation-ID": ["Must not contain NUL characters."]}
        )
    digest = request_hash(topic, body) if idempotency_key else ""
    optimistic = optimistic_writes()
    for attempt in range(_RETRIES_ON_RACE):
        drawn = ambient.mark()  # a retried attempt's times and ids are forgotten (a session tape)
        try:
            # the first attempt is optimistic (cached states, checks in the write pipeline); any
            # retry locks and reads the rows as the handlers always did
            return _run_once(
                registered,
                topic,
                body,
                actor,
                correlation_id,
                idempotency_key,
                digest,
                optimistic and attempt == 0,
            )
        except _Retry:
            metrics.optimistic_retry(topic)
            ambient.rewind(drawn)
            continue
        except IntegrityError as exc:
            ambient.rewind(drawn)
            log.info("%s retried (attempt %d): a concurrent writer took a key first: %s", topic, attempt, exc)
            if attempt == _RETRIES_ON_RACE - 1:
                raise VersionConflict("a concurrent command changed the same objects; retry") from exc
        except ApplicationError as exc:
            if idempotency_key and not isinstance(exc, VersionConflict | IdempotencyKeyReused):
                _remember_error(actor, idempotency_key, digest, exc)
            for hook in _FAILURE_HOOKS:
                hook(topic, body, actor, exc)
            raise
    raise AssertionError("unreachable")


def _resolve(topic: str, body: Any, external: bool = False) -> Registered:
    if not isinstance(body, dict):
        raise ValidationFailed(
            "the command must be a JSON object", fields={"non_field_errors": ["Expected a JSON object."]}
        )
    unstorable = sorted(
        {
            "non_field_errors" if _unstorable(k) else str(k)
            for k, v in body.items()
            if _unstorable(k) or _unstorable(v)
        }
    )
    if unstorable:
        raise ValidationFailed(
            "the command contains characters that cannot be stored",
            fields={k: ["Must not contain NUL or unpaired surrogate characters."] for k in unstorable},
        )
    command_type = body.get("commandType")
    handlers = _HANDLERS.get(topic)
    if handlers is None:
        raise ValidationFailed(
            f"unknown command topic '{topic}'", fields={"topic": [f"One of: {', '.join(topics())}."]}
        )
    if not command_type:
        raise ValidationFailed("commandType is required", fields={"commandType": ["This field is required."]})
    registered = handlers.get(command_type) if isinstance(command_type, str) else None
    if registered is None or (external and is_internal(command_type)):
        allowed = ", ".join(sorted(t for t in handlers if not (external and is_internal(t))))
        raise ValidationFailed(
            f"unknown commandType '{command_type}' for {topic}",
            fields={"commandType": [f"'{command_type}' is not one of: {allowed}."]},
        )
    unknown = [name if len(name) <= 64 else name[:64] + "..." for name in unknown_fields(command_type, body)]
    if unknown:
        raise ValidationFailed(
            f"unknown fields for {command_type}: {', '.join(unknown)}",
            fields={name: [f"Unknown field: {command_type} does not take it."] for name in unknown},
        )
    return registered


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _unstorable(value: Any) -> bool:
    """NUL and lone surrogates: PostgreSQL text/jsonb and UTF-8 cannot hold them (a 500, or an
    event appended that cannot be rendered). Every string of the body is stored in the event."""
    if isinstance(value, str):
        return _UNSTORABLE.search(value) is not None
    if isinstance(value, dict):
        return any(_unstorable(k) or _unstorable(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_unstorable(v) for v in value)
    return False


@contextlib.contextmanager
def _frames_released() -> Iterator[None]:
    """Clear the finished frames of an exception raised inside (and of every exception it
    chains) on its way out.

    Django's DatabaseErrorWrapper leaves a database error in a reference cycle with its own
    frame, and the frames below it hold the cursor: every conflict of an optimistic attempt left
    a cursor for the cycle collector. On SQLite that hung writers: the collection runs in
    whichever thread allocates, and finalizing another thread's cursor takes that connection's
    mutex, which its owner holds while it waits for the write lock, held by the collecting
    thread. Both waited for the 30 s busy timeout, then "database is locked". With the frames
    cleared the error and its cursor are freed in their own thread when dropped."""
    try:
        yield
    except BaseException as exc:
        pending: list[BaseException | None] = [exc]
        seen: set[int] = set()
        while pending:
            error = pending.pop()
            if error is None or id(error) in seen:
                continue
            seen.add(id(error))
            traceback.clear_frames(error.__traceback__)
            pending += [error.__cause__, error.__context__]
        raise


def _run_once(
    registered: Registered,
    topic: str,
    body: dict[str, Any],
    actor: str,
    correlation_id: str | None,
    idempotency_key: str | None,
    digest: str,
    optimistic: bool = False,
) -> CommandResult:
    ctx = CommandContext(actor=actor, command=body)
    if correlation_id:
        ctx.correlation_id = correlation_id
    uow = UnitOfWork(ctx, optimistic=optimistic)
    try:
        with _frames_released():
            return _in_transaction(registered, uow, body, actor, idempotency_key, digest)
    except Contended:
        if optimistic:
            raise _Retry() from None
        raise
    except ApplicationError:
        # a refusal decided on a cached state or past an unchecked claim (a repeat is answered as
        # a duplicate first) may be wrong: decide again on the rows
        if uow.speculative:
            raise _Retry() from None
        raise
    except OperationalError as exc:
        # a deadlock victim's transaction rolled back whole: nothing was written, so the command
        # runs again with locks (an optimistic attempt locks late and in write order; the other
        # side may be a locked attempt, e.g. a fill locking its position after the order tree).
        # Not inside a caller's transaction: PostgreSQL aborted that too.
        if getattr(exc.__cause__, "sqlstate", None) == _DEADLOCK and not connection.in_atomic_block:
            raise _Retry() from None
        raise


def _in_transaction(
    registered: Registered,
    uow: UnitOfWork,
    body: dict[str, Any],
    actor: str,
    idempotency_key: str | None,
    digest: str,
) -> CommandResult:
    with transaction.atomic():
        if idempotency_key:
            seen = IdempotencyRecord.objects.filter(actor=actor, key=idempotency_key).first()
            if seen is not None:
                return _replay(seen, digest)
        command = registered.command.parse(body)
        outcome = registered.handler(uow, **command.arguments())
        events = uow.commit()
        response = {**outcome.body, "duplicate": outcome.duplicate, "events": events}
        if idempotency_key:
            IdempotencyRecord.objects.create(
                actor=actor,
                key=idempotency_key,
                request_hash=digest,
                status_code=outcome.status_code,
                response=response,
            )
        return CommandResult(outcome.status_code, response, events)


def _replay(seen: IdempotencyRecord, digest: str) -> CommandResult:
    if seen.request_hash != digest:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was used with a different request",
            fields={"Idempotency-Key": ["Already used with a different body."]},
        )
    return CommandResult(seen.status_code, seen.response, [], replayed=True)


def _remember_error(actor: str, key: str, digest: str, exc: ApplicationError) -> None:
    """The first answer to a key is its answer, errors included (a retry must not flip the outcome)."""
    try:
        with transaction.atomic():
            IdempotencyRecord.objects.get_or_create(
                actor=actor,
                key=key,
                defaults={"request_hash": digest, "status_code": exc.http_status, "response": exc.as_dict()},
            )
    except IntegrityError:
        log.info("idempotency key %s recorded concurrently", key)
