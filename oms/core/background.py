"""In-process background work for the embedded default: the publisher and interval beat entries.

Without Redis there is no worker or beat process, and the in-memory channel layer exists once per
process and per event loop: the blotter's live feed can only be sent from inside the ASGI server.
`ensure_started()` (called by oms/asgi.py on the first HTTP or websocket scope, or at lifespan
startup) starts, as asyncio tasks on the server's loop:

- the event publisher over every configured sink (database calls on a thread of its own, woken
  right after each commit in this process, else polling every OMS_PUBLISH_POLL_MS);
- each entry of `settings.CELERY_BEAT_SCHEDULE` whose schedule is a number of seconds, a
  timedelta or a `celery.schedules.schedule`: the task runs in a worker thread at that interval
  (crontab entries need `celery beat`), on the Celery app the caller passes in (oms/asgi.py gives
  `oms.celery.app`: the core never imports the project's Celery app, which autodiscovers every
  domain's tasks).

Enabled by `OMS_INPROCESS_WORKERS` (default: on without REDIS_URL). With Redis, run
`manage.py publish_events` and `celery -A oms beat` as processes instead.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
import weakref
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from celery import Celery
from django.conf import settings
from django.db import connection

from oms.core.publishing import Publisher, build_sinks

log = logging.getLogger(__name__)


def interval_seconds(schedule: object) -> float | None:
    """Seconds between runs for the schedules the runner understands; None for others (crontab)."""
    if isinstance(schedule, int | float) and not isinstance(schedule, bool):
        return float(schedule)
    if isinstance(schedule, dt.timedelta):
        return schedule.total_seconds()
    run_every = getattr(schedule, "run_every", None)  # celery.schedules.schedule, not crontab
    if isinstance(run_every, dt.timedelta) and type(schedule).__name__ == "schedule":
        return run_every.total_seconds()
    return None


# the Celery apps whose task modules this process has imported (task_modules_imported)
_IMPORTED: weakref.WeakSet[Celery] = weakref.WeakSet()
_IMPORTING = threading.Lock()


def task_modules_imported(app: Celery) -> None:
    """Import `app`'s task modules once per process, as a worker does once at its start.

    Celery's `loader.import_default_modules()` sends `import_modules` on every call, and its
    Django fixup answers that signal with `django.setup()` and Django's whole system-check run
    (admin, models, URLs): 0.1-0.3 s of CPU. Called before every in-process beat run (the venue
    stream's entry runs every 0.2 s), that took a fifth of the embedded server's CPU from its
    requests (bench/http_profile.py; docs/benchmarks.md §40)."""
    app = getattr(app, "_get_current_object", lambda: app)()  # celery's current_app is a proxy
    if app in _IMPORTED:
        return
    with _IMPORTING:
        if app not in _IMPORTED:
            app.loader.import_default_modules()
            _IMPORTED.add(app)


def run_task(app: Celery, name: str, args: Iterable[Any] = (), kwargs: dict[str, Any] | None = None) -> Any:
    """Run a task registered on `app` here and now (in this thread), as a beat entry would."""
    task_modules_imported(app)
    try:
        return app.tasks[name].apply(args=tuple(args), kwargs=kwargs or {}, throw=True).get()
    finally:
        connection.close()  # the pool's threads keep no connection between runs


class BackgroundRunner:
    def __init__(self, celery_app: Celery) -> None:
        self.celery_app = celery_app
        self.stop_event = asyncio.Event()
        self.tasks: list[asyncio.Task[Any]] = []
        self.publisher: Publisher | None = None
        self.runs: dict[str, int] = {}  # beat entry -> completed runs
        self._pool = ThreadPoolExecutor(2, thread_name_prefix="oms-beat")

    def start(self) -> None:
        sinks = build_sinks()
        if sinks:
            self.publisher = Publisher(sinks)
            self.tasks.append(asyncio.ensure_future(self.publisher.run(self.stop_event)))
        for name, entry in getattr(settings, "CELERY_BEAT_SCHEDULE", {}).items():
            seconds = interval_seconds(entry.get("schedule"))
            if seconds is None or seconds <= 0:
                log.info("beat entry %s has no fixed interval: it runs only under `celery beat`", name)
                continue
            self.runs[name] = 0
            self.tasks.append(asyncio.ensure_future(self._beat(name, entry, seconds)))
        log.info(
            "in-process workers started: sinks %s, beat entries %s",
            [s.name for s in sinks],
            sorted(self.runs),
        )

    async def _beat(self, name: str, entry: dict[str, Any], seconds: float) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                await asyncio.wait_for(self.stop_event.wait(), timeout=seconds)
                return
            except TimeoutError:
                pass
            try:
                await loop.run_in_executor(
                    self._pool,
                    run_task,
                    self.celery_app,
                    entry["task"],
                    entry.get("args", ()),
                    entry.get("kwargs"),
                )
            except Exception:
                log.exception("beat entry %s (%s) failed", name, entry["task"])
            self.runs[name] += 1

    async def stop(self, timeout: float = 10.0) -> None:
        self.stop_event.set()
        if self.tasks:
            _, pending = await asyncio.wait(self.tasks, timeout=timeout)
            for task in pending:
                task.cancel()
        self._pool.shutdown(wait=False)


_RUNNERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, BackgroundRunner] = weakref.WeakKeyDictionary()


def ensure_started(celery_app: Celery) -> BackgroundRunner | None:
    """Start the runner on the running loop once (no-op when OMS_INPROCESS_WORKERS is off); beat
    entries run on `celery_app`."""
    if not settings.OMS_INPROCESS_WORKERS:
        return None
    loop = asyncio.get_running_loop()
    runner = _RUNNERS.get(loop)
    if runner is None:
        runner = _RUNNERS[loop] = BackgroundRunner(celery_app)
        runner.start()
    return runner


def current() -> BackgroundRunner | None:
    try:
        return _RUNNERS.get(asyncio.get_running_loop())
    except RuntimeError:
        return None


async def stop_current() -> None:
    runner = current()
    if runner is not None:
        del _RUNNERS[asyncio.get_running_loop()]
        await runner.stop()
