"""Prometheus metrics of the core: the families, and the few hooks that feed them.

prometheus-client only (no Django): the write path, the publisher, the blotter consumer and the
Celery signals import this module and call one function each. The families are exposed at
`/metrics` by `oms.observability` (which also adds the scrape-time ones: publisher backlog, DB
pool). Names follow Prometheus conventions (`_total`, `_seconds`, base units).

Multi-process: with `PROMETHEUS_MULTIPROC_DIR` set (before the first import of prometheus_client)
every process writes its samples to files in that directory and any process's `/metrics`
aggregates them (prometheus-client's multiprocess mode); gauges say how they aggregate.
"""

from __future__ import annotations

import atexit
import functools
import os
import time
from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any, TypeVar

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    multiprocess,
    start_http_server,
)

from oms.core.errors import ApplicationError, RuleRefused

F = TypeVar("F", bound=Callable[..., Any])

if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # a process that exits takes its "live" gauge values with it (the websocket clients of a
    # restarted server); counters and histograms stay summed. The pid is read at exit: a forked
    # child (Celery prefork) marks itself, not its parent.
    atexit.register(lambda: multiprocess.mark_process_dead(os.getpid()))  # type: ignore[no-untyped-call]  # prometheus-client leaves it unannotated

# from a fast in-memory command (~0.5 ms) to a slow one waiting on locks or fsync
_COMMAND_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

COMMAND_SECONDS = Histogram(
    "oms_command_duration_seconds",
    "Commands through dispatch (its _count is the command count): latency by topic, command type "
    "and outcome (ok, duplicate, or the error code)",
    ["topic", "command_type", "outcome"],
    buckets=_COMMAND_BUCKETS,
)
REFUSALS = Counter(
    "oms_command_refusals_total",
    "Commands refused, by error code and, for rule_refused, the rule",
    ["topic", "code", "rule"],
)
PUBLISH_LAG = Histogram(
    "oms_publisher_lag_seconds",
    "Time from an event's commit (recordedAt) to its publication to a sink",
    ["sink"],
    buckets=_LAG_BUCKETS,
)
PUBLISHED = Counter("oms_publisher_events_total", "Events published, per sink", ["sink"])
PUBLISH_ERRORS = Counter("oms_publisher_errors_total", "Failed publishing attempts, per sink", ["sink"])
WEBSOCKET_CLIENTS = Gauge(
    "oms_websocket_clients",
    "Blotter websocket clients connected",
    multiprocess_mode="livesum",  # the sum over the processes alive
)
WEBSOCKET_TOO_SLOW = Counter(
    "oms_websocket_too_slow_total",
    "Blotter websocket clients closed (4408) for falling too far behind the live feed",
)
OPTIMISTIC_RETRIES = Counter(
    "oms_command_optimistic_retries_total",
    "Optimistic first attempts run again with locks (a stale cached state, a taken key, a "
    "concurrent write), per topic",
    ["topic"],
)
CELERY_TASKS = Counter(
    "oms_celery_tasks_total",
    "Celery task outcomes (success, failure, retry, revoked, rejected), per task",
    ["task", "state"],
)


# labelled children by label values: `labels()` (validation, a lock) costs twice the observation
# itself; the label values are bounded (registered topics and types, error codes)
_COMMAND_CHILDREN: dict[tuple[str, str, str], Any] = {}


def _command_seconds(topic: str, command_type: str, outcome: str) -> Any:
    key = (topic, command_type, outcome)
    child = _COMMAND_CHILDREN.get(key)
    if child is None:
        child = _COMMAND_CHILDREN[key] = COMMAND_SECONDS.labels(*key)
    return child


def command_type_label(topic: str, body: Any, known: Callable[[str], Collection[str] | None]) -> str:
    """The commandType, if registered for the topic; anything else is "unknown" (a client's typo
    must not create a time series)."""
    command_type = body.get("commandType") if isinstance(body, dict) else None
    return (
        command_type if isinstance(command_type, str) and command_type in (known(topic) or ()) else "unknown"
    )


def timed_command(known_types: Callable[[str], Collection[str] | None]) -> Callable[[F], F]:
    """Decorates `dispatch(topic, body, ...)`: one clock read before and after, one observation.

    `known_types(topic)` holds the registered command types (labels only for those), or None for an
    unknown topic: `_HANDLERS.get`, a dict lookup, since it runs for every command. The outcome
    is "ok", "duplicate" (the handler answered a duplicate, or an Idempotency-Key replay) or the
    error code, raised or replayed.
    """

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def timed(topic: str, body: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                result = fn(topic, body, **kwargs)
            except ApplicationError as exc:
                _observe_error(topic, body, known_types, exc.code, getattr(exc, "rule", ""), started)
                raise
            except Exception:  # a bug: the API answers 500
                _observe_error(topic, body, known_types, "internal_error", "", started)
                raise
            if result.status_code >= 400:  # an error answered again for its Idempotency-Key
                error = result.body.get("error") or {}
                _observe_error(
                    topic, body, known_types, error.get("code", "error"), error.get("rule", ""), started
                )
                return result
            outcome = (
                "duplicate" if result.body.get("duplicate") or getattr(result, "replayed", False) else "ok"
            )
            _command_seconds(topic, command_type_label(topic, body, known_types), outcome).observe(
                time.perf_counter() - started
            )
            return result

        return timed  # type: ignore[return-value]  # wraps fn with its signature (functools.wraps)

    return decorate


def _observe_error(
    topic: str,
    body: Any,
    known: Callable[[str], Collection[str] | None],
    code: str,
    rule: str,
    started: float,
) -> None:
    elapsed = time.perf_counter() - started
    topic_label = topic if known(topic) else "unknown"
    _command_seconds(topic_label, command_type_label(topic, body, known), code).observe(elapsed)
    REFUSALS.labels(topic_label, code, rule if code == RuleRefused.code else "").inc()


def events_published(sink: str, events: list[dict[str, Any]], now: float | None = None) -> None:
    """After a sink confirmed a batch: the count, and each event's lag since its commit."""
    if not events:
        return
    now = time.time() if now is None else now
    PUBLISHED.labels(sink).inc(len(events))
    lag = PUBLISH_LAG.labels(sink)
    for event in events:
        lag.observe(max(0.0, now - _epoch(event["recordedAt"])))


def publish_failed(sink: str) -> None:
    PUBLISH_ERRORS.labels(sink).inc()


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def optimistic_retry(topic: str) -> None:
    OPTIMISTIC_RETRIES.labels(topic).inc()


def websocket_connected() -> None:
    WEBSOCKET_CLIENTS.inc()


def websocket_disconnected() -> None:
    WEBSOCKET_CLIENTS.dec()


def websocket_too_slow() -> None:
    WEBSOCKET_TOO_SLOW.inc()


def celery_task_outcome(task_name: str, state: str) -> None:
    CELERY_TASKS.labels(task_name or "unknown", state).inc()


def registry() -> CollectorRegistry:
    """The families to expose: this process's, or with PROMETHEUS_MULTIPROC_DIR set, every
    process's that writes to that directory (summed per label set; gauges as they say)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        collected = CollectorRegistry()
        multiprocess.MultiProcessCollector(collected)  # type: ignore[no-untyped-call]  # prometheus-client leaves it unannotated
        return collected
    return REGISTRY


def serve(port: int, addr: str) -> None:
    """Expose the metrics of a process without HTTP of its own (`publish_events`, a Celery
    worker) on a port of their own, in a daemon thread. Unauthenticated: bind it to a network only
    Prometheus reaches (README, "Operations")."""
    start_http_server(port, addr=addr, registry=registry())
