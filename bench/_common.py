"""Shared helpers for the benchmarks: the bench database, Django setup, statistics, machine notes.

Every benchmark runs against PostgreSQL with durable commits (synchronous_commit=on, fsync=on;
checked, never changed) in a dedicated database it creates and drops itself. Results are printed
and written as JSON to var/bench/<name>.json (var/ is not committed).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "var" / "bench"

PG_HOST = os.environ.get("BENCH_PGHOST", "127.0.0.1")
PG_PORT = os.environ.get("BENCH_PGPORT", "5432")
PG_USER = os.environ.get("BENCH_PGUSER", "root")
PG_PASSWORD = os.environ.get("BENCH_PGPASSWORD", "")
DEFAULT_DB = os.environ.get("BENCH_DB", "oms_bench")


def conninfo(dbname: str) -> str:
    parts = [f"host={PG_HOST}", f"port={PG_PORT}", f"user={PG_USER}", f"dbname={dbname}"]
    if PG_PASSWORD:
        parts.append(f"password={PG_PASSWORD}")
    return " ".join(parts)


def database_url(dbname: str) -> str:
    auth = PG_USER + (f":{PG_PASSWORD}" if PG_PASSWORD else "")
    return f"postgres://{auth}@{PG_HOST}:{PG_PORT}/{dbname}"


def _admin() -> psycopg.Connection[Any]:
    return psycopg.connect(conninfo("postgres"), autocommit=True)


def create_db(name: str) -> None:
    """Drop (forcing other sessions out) and create the bench database."""
    with _admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_db(name: str) -> None:
    with _admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def db_exists(name: str) -> bool:
    with _admin() as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


def check_durable() -> dict[str, str]:
    """The server settings that make a commit durable; refuse to benchmark without them."""
    with _admin() as conn:
        got = {
            name: conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]  # SHOW always answers one row
            for name in ("synchronous_commit", "fsync", "wal_sync_method", "shared_buffers", "server_version")
        }
    if got["synchronous_commit"] != "on" or got["fsync"] != "on":
        sys.exit(f"refusing to benchmark without durable commits: {got}")
    return got


def django_env(dbname: str) -> dict[str, str]:
    """The environment the OMS runs with on the bench database (in-process or for a subprocess)."""
    env = dict(os.environ)
    env.pop("REDIS_URL", None)  # Celery eager, in-memory channel layer
    env.update(
        DATABASE_URL=database_url(dbname),
        DJANGO_SETTINGS_MODULE="oms.settings",
        DEBUG="0",
        LOG_LEVEL=os.environ.get("LOG_LEVEL", "WARNING"),
        SECRET_KEY=os.environ.get("SECRET_KEY", "bench-secret-key-not-for-production-0123456789abcdef"),
        ALLOWED_HOSTS="127.0.0.1,localhost,testserver",
    )
    return env


def django_setup(dbname: str, *, migrate: bool = True) -> None:
    """Point Django at the bench database, set it up and (optionally) migrate it."""
    os.environ.pop("REDIS_URL", None)
    os.environ.update(django_env(dbname))
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)


# --- statistics ------------------------------------------------------------------------------


def copy_states(db: str, aggregate: Any, states: Iterable[Any]) -> None:
    """COPY `states` (an aggregate's state objects) into its state table, each row with the
    document the live code writes (`to_api`, `to_row`), then VACUUM ANALYZE the table."""
    from psycopg.types.json import Jsonb

    table = aggregate.state_model._meta.db_table
    pending = iter(states)
    first = next(pending, None)
    with psycopg.connect(conninfo(db)) as conn, conn.cursor() as cur:
        if first is not None:
            columns = list(aggregate.to_row(first, aggregate.to_api(first)))
            with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for state in itertools.chain([first], pending):
                    doc = aggregate.to_api(state)
                    row = aggregate.to_row(state, doc)
                    row["doc"] = Jsonb(doc)
                    copy.write_row([row[c] for c in columns])
        conn.commit()
        conn.autocommit = True
        cur.execute(f"VACUUM ANALYZE {table}")


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank quantile of already sorted values."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(q * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def latency_summary(seconds: Iterable[float]) -> dict[str, float]:
    """p50/p90/p99/max/mean in milliseconds."""
    values = sorted(seconds)
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50_ms": quantile(values, 0.50) * 1e3,
        "p90_ms": quantile(values, 0.90) * 1e3,
        "p99_ms": quantile(values, 0.99) * 1e3,
        "max_ms": values[-1] * 1e3,
        "mean_ms": statistics.fmean(values) * 1e3,
    }


def fmt_lat(s: dict[str, float]) -> str:
    if not s.get("n"):
        return "-"
    return f"p50 {s['p50_ms']:.2f} ms, p99 {s['p99_ms']:.2f} ms (n={s['n']})"


# --- machine notes and results -----------------------------------------------------------------


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def machine_notes() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in _read("/proc/cpuinfo").splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem = next(
        (
            line.split(":", 1)[1].strip()
            for line in _read("/proc/meminfo").splitlines()
            if line.startswith("MemTotal")
        ),
        "",
    )
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.splitlines()
    except OSError:
        head, dirty = "", []
    return {
        "date_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "mem": mem,
        "loadavg_at_start": _read("/proc/loadavg").split()[:3],
        "python": platform.python_version(),
        "psycopg": f"{psycopg.__version__} ({psycopg.pq.__impl__})",
        "postgres": check_durable(),
        "git_head": head,
        "git_modified_files": len(dirty),
    }


def save_result(name: str, data: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, default=str))
    return path


def print_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    rows = [[str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |")
