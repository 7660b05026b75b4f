"""Where the SIM venue keeps its state: shared by the API process and the workers.

The SIM venue is a stand-in for a remote exchange, so its state must live outside any one OMS
process and outside the OMS database's transactions (a rolled-back command must not undo what
the "exchange" did). Two stores with one small interface:

- `SqliteStore`: the embedded default (no REDIS_URL): a SQLite file of its own
  (`OMS_VAR_DIR/sim-<venue>.sqlite3`, never the OMS database), so the API process (which runs
  the tasks and the stream consumer in-process) and a one-off command (`seed_demo`) see the same
  venue; `OMS_SIM_STORE=memory` keeps it in this process's memory instead (`MemoryStore`);
- `RedisStore`: with REDIS_URL, keys under `<OMS_SIM_PREFIX>:<venue>:` in Redis, so the API
  process (SimSetMarket), the Celery workers (place, cancel) and `manage.py venue_stream` (the
  stream) share one venue.

Every engine operation runs under `store.locked()` (a process lock, or a Redis lock), so a
place, a market update and a fault never interleave: the venue is deterministic.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

Doc = dict[str, Any]


class SimStore(Protocol):
    def locked(self) -> Any: ...
    def hget(self, name: str, key: str) -> Doc | None: ...
    def hset(self, name: str, key: str, doc: Doc) -> None: ...
    def hvals(self, name: str) -> list[Doc]: ...
    def incr(self, name: str, by: int = 1) -> int: ...
    def push(self, name: str, doc: Doc) -> None: ...
    def read(self, name: str, start: int) -> list[Doc]: ...
    def wait(self, name: str, start: int, timeout: float) -> list[Doc]: ...
    def length(self, name: str) -> int: ...
    def clear(self) -> None: ...


class MemoryStore:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._hashes: dict[str, dict[str, Doc]] = {}
        self._lists: dict[str, list[Doc]] = {}
        self._counters: dict[str, int] = {}

    @contextmanager
    def locked(self) -> Iterator[None]:
        with self._lock:
            yield

    def hget(self, name: str, key: str) -> Doc | None:
        with self._lock:
            doc = self._hashes.get(name, {}).get(key)
            return None if doc is None else json.loads(json.dumps(doc))

    def hset(self, name: str, key: str, doc: Doc) -> None:
        with self._lock:
            self._hashes.setdefault(name, {})[key] = json.loads(json.dumps(doc))

    def hvals(self, name: str) -> list[Doc]:
        with self._lock:
            return [json.loads(json.dumps(d)) for d in self._hashes.get(name, {}).values()]

    def incr(self, name: str, by: int = 1) -> int:
        with self._lock:
            self._counters[name] = self._counters.get(name, 0) + by
            return self._counters[name]

    def push(self, name: str, doc: Doc) -> None:
        with self._lock:
            self._lists.setdefault(name, []).append(json.loads(json.dumps(doc)))
            self._changed.notify_all()

    def read(self, name: str, start: int) -> list[Doc]:
        with self._lock:
            return list(self._lists.get(name, [])[start:])

    def wait(self, name: str, start: int, timeout: float) -> list[Doc]:
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                found = self._lists.get(name, [])[start:]
                left = deadline - time.monotonic()
                if found or left <= 0:
                    return list(found)
                self._changed.wait(left)

    def length(self, name: str) -> int:
        with self._lock:
            return len(self._lists.get(name, []))

    def clear(self) -> None:
        with self._lock:
            self._hashes.clear()
            self._lists.clear()
            self._counters.clear()


class SqliteStore:
    """One SQLite file, a connection per thread; `locked()` is a write transaction (BEGIN
    IMMEDIATE: one writer across processes), re-entrant within a thread."""

    POLL_SECONDS = 0.01
    SCHEMA = (
        "CREATE TABLE IF NOT EXISTS h (name TEXT, key TEXT, doc TEXT, PRIMARY KEY (name, key))",
        "CREATE TABLE IF NOT EXISTS l (name TEXT, idx INTEGER, doc TEXT, PRIMARY KEY (name, idx))",
        "CREATE TABLE IF NOT EXISTS c (name TEXT PRIMARY KEY, n INTEGER)",
    )

    def __init__(self, path: str) -> None:
        self._path = path
        self._local = threading.local()

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self._path, timeout=30, isolation_level=None, check_same_thread=True)
            db.execute("PRAGMA journal_mode=WAL")
            for statement in self.SCHEMA:
                db.execute(statement)
            self._local.db = db
            self._local.depth = 0
        return db

    @contextmanager
    def locked(self) -> Iterator[None]:
        db = self._db()
        if self._local.depth:
            self._local.depth += 1
            try:
                yield
            finally:
                self._local.depth -= 1
            return
        db.execute("BEGIN IMMEDIATE")
        self._local.depth = 1
        try:
            yield
        finally:
            # committed even when the engine raises: a venue error (a reject, a timeout after the
            # venue had the order) is an answer, and what the venue did before it stands, as in
            # the memory and Redis stores
            self._local.depth = 0
            db.execute("COMMIT")

    def hget(self, name: str, key: str) -> Doc | None:
        row = self._db().execute("SELECT doc FROM h WHERE name=? AND key=?", (name, key)).fetchone()
        return None if row is None else json.loads(row[0])

    def hset(self, name: str, key: str, doc: Doc) -> None:
        self._db().execute("INSERT OR REPLACE INTO h VALUES (?, ?, ?)", (name, key, json.dumps(doc)))

    def hvals(self, name: str) -> list[Doc]:
        return [json.loads(r[0]) for r in self._db().execute("SELECT doc FROM h WHERE name=?", (name,))]

    def incr(self, name: str, by: int = 1) -> int:
        db = self._db()
        db.execute("INSERT INTO c VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET n = n + ?", (name, by, by))
        return int(db.execute("SELECT n FROM c WHERE name=?", (name,)).fetchone()[0])

    def push(self, name: str, doc: Doc) -> None:
        self._db().execute(
            "INSERT INTO l VALUES (?, (SELECT COALESCE(MAX(idx), -1) + 1 FROM l WHERE name=?), ?)",
            (name, name, json.dumps(doc)),
        )

    def read(self, name: str, start: int) -> list[Doc]:
        rows = self._db().execute("SELECT doc FROM l WHERE name=? AND idx>=? ORDER BY idx", (name, start))
        return [json.loads(r[0]) for r in rows]

    def wait(self, name: str, start: int, timeout: float) -> list[Doc]:
        deadline = time.monotonic() + timeout
        while True:
            found = self.read(name, start)
            if found or time.monotonic() >= deadline:
                return found
            time.sleep(self.POLL_SECONDS)

    def length(self, name: str) -> int:
        return int(self._db().execute("SELECT COUNT(*) FROM l WHERE name=?", (name,)).fetchone()[0])

    def clear(self) -> None:
        with self.locked():
            for table in ("h", "l", "c"):
                self._db().execute(f"DELETE FROM {table}")


class RedisStore:
    POLL_SECONDS = 0.01

    def __init__(self, url: str, prefix: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url)
        self._prefix = prefix

    def _key(self, name: str) -> str:
        return f"{self._prefix}:{name}"

    @contextmanager
    def locked(self) -> Iterator[None]:
        # a lost holder (a SIGKILLed worker) frees it after `timeout`
        with self._redis.lock(self._key("lock"), timeout=10, blocking_timeout=30):
            yield

    def hget(self, name: str, key: str) -> Doc | None:
        raw = self._redis.hget(self._key(name), key)
        return None if raw is None else json.loads(raw)  # type: ignore[arg-type]  # bytes at run time

    def hset(self, name: str, key: str, doc: Doc) -> None:
        self._redis.hset(self._key(name), key, json.dumps(doc))

    def hvals(self, name: str) -> list[Doc]:
        return [json.loads(raw) for raw in self._redis.hvals(self._key(name))]  # type: ignore[union-attr]  # redis-py's sync client is typed as sync-or-async

    def incr(self, name: str, by: int = 1) -> int:
        return int(self._redis.incrby(self._key(name), by))  # type: ignore[arg-type]  # redis-py's sync client is typed as sync-or-async

    def push(self, name: str, doc: Doc) -> None:
        self._redis.rpush(self._key(name), json.dumps(doc))

    def read(self, name: str, start: int) -> list[Doc]:
        return [json.loads(raw) for raw in self._redis.lrange(self._key(name), start, -1)]  # type: ignore[union-attr]  # redis-py's sync client is typed as sync-or-async

    def wait(self, name: str, start: int, timeout: float) -> list[Doc]:
        deadline = time.monotonic() + timeout
        while True:
            found = self.read(name, start)
            if found or time.monotonic() >= deadline:
                return found
            time.sleep(self.POLL_SECONDS)

    def length(self, name: str) -> int:
        return int(self._redis.llen(self._key(name)))  # type: ignore[arg-type]  # redis-py's sync client is typed as sync-or-async

    def clear(self) -> None:
        keys = list(self._redis.scan_iter(match=f"{self._prefix}:*"))
        if keys:
            self._redis.delete(*keys)
