"""One driver at a time across the processes of a deployment, and the global step number `g`.

With Redis the API, the Celery workers and `manage.py venue_stream` are separate processes whose
drivers interleave through the database. Each records its own file; for the files to merge into
one replayable order, the processes order their drivers themselves while recording:

- a session-level PostgreSQL advisory lock taken around every top-level driver (after the
  in-process lock). PostgreSQL grants conflicting lock requests first come, first served, so a
  stream consumer stepping in a loop cannot starve a worker or the API: no fairness code of our
  own. A process that dies releases it with its session. The wait is bounded (`lock_timeout`):
  past it the driver runs unrecorded (the recorder writes an `overlap`), the OMS never blocks on
  a recording;
- under the lock, a step number drawn from a Redis counter of the session (`INCR`), written as
  `g` in the driver's `begin` line. The lock is released only once the driver committed and its
  lines are written, so `g` order is the order of the drivers' effects, across processes.

The lock is taken on a psycopg connection of this process's own, opened on first use: Django's
connection may be closed by a task (`close_old_connections`) and must not be held by a lock.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from typing import Any

import psycopg
import redis
from django.conf import settings
from django.db import connection

log = logging.getLogger(__name__)


def session_key() -> str:
    """What names the recording session every process of a deployment shares: its database and
    its SIM prefix (a test run's own)."""
    return f"{connection.settings_dict['NAME']}/{settings.OMS_SIM_PREFIX or ''}"


def shared_turn_possible() -> bool:
    """The processes can share a turn: PostgreSQL (the lock) and Redis (the step counter)."""
    return bool(settings.REDIS_URL) and connection.vendor == "postgresql"


class CrossProcessTurn:
    def __init__(self, key: str) -> None:
        self.key = key
        digest = hashlib.blake2b(f"oms:recording:{key}".encode(), digest_size=8).digest()
        self.lock_id = int.from_bytes(digest, "big", signed=True)  # pg_advisory_lock takes a bigint
        self.counter = f"oms:recording:{key}:step"
        self._redis: Any = None
        self._pg: psycopg.Connection[Any] | None = None
        self._guard = threading.Lock()  # the in-process lock is taken first; this guards the connection

    def current(self) -> int:
        """The last step number drawn so far (0 before any): a file's steps come after it."""
        value = self._client().get(self.counter)
        return int(value or 0)

    def acquire(self, wait_seconds: float) -> int | None:
        """Wait for this process's turn (at most `wait_seconds`) and draw its step number; None
        when the turn did not come (or the lock or the counter failed): run unrecorded."""
        with self._guard:
            try:
                pg = self._connection(wait_seconds)
                pg.execute("SELECT pg_advisory_lock(%s)", (self.lock_id,))
            except psycopg.errors.LockNotAvailable:
                return None
            except psycopg.Error as exc:
                log.warning("session recording: the cross-process lock failed: %s", exc)
                self._drop()
                return None
            try:
                return int(self._client().incr(self.counter))
            except redis.RedisError as exc:
                log.warning("session recording: the step counter failed: %s", exc)
                self._unlock()
                return None

    def release(self) -> None:
        with self._guard:
            self._unlock()

    def close(self) -> None:
        with self._guard:
            self._drop()

    def _unlock(self) -> None:
        if self._pg is None:
            return
        try:
            self._pg.execute("SELECT pg_advisory_unlock(%s)", (self.lock_id,))
        except psycopg.Error as exc:  # the session is gone: so is its lock
            log.warning("session recording: releasing the cross-process lock: %s", exc)
            self._drop()

    def _connection(self, wait_seconds: float) -> psycopg.Connection[Any]:
        if self._pg is None or self._pg.closed:
            db = connection.settings_dict
            self._pg = psycopg.connect(
                dbname=db["NAME"],
                user=db.get("USER") or None,
                password=db.get("PASSWORD") or None,
                host=db.get("HOST") or None,
                port=db.get("PORT") or None,
                autocommit=True,
                application_name="oms-session-recorder",
            )
            self._pg.execute(f"SET lock_timeout = '{int(wait_seconds * 1000)}ms'")
        return self._pg

    def _drop(self) -> None:
        if self._pg is not None:
            try:
                self._pg.close()
            finally:
                self._pg = None

    def _client(self) -> Any:
        if self._redis is None:
            self._redis = redis.Redis.from_url(settings.REDIS_URL)
        return self._redis
