"""The plans of the blotter snapshot's statements, as they run (EXPLAIN ANALYZE, BUFFERS).

    BENCH_DB=<a database bench/blotter_snapshot.py left with --keep-db> \\
        .venv/bin/python -m bench.blotter_explain [--summary]

Builds one snapshot (`blotter.snapshot.snapshot_lines`) in this process with `auto_explain` loaded
in its session and its output sent to the client as NOTICEs: each statement's plan is the one
PostgreSQL actually ran, server-side cursors included (a cursor is planned for its first 10% of
rows, `cursor_tuple_fraction`, so a plain EXPLAIN of the same SELECT can show another plan).
Prints every plan (or, with `--summary`, one line per statement: time, rows, shared buffers hit
and read, the top node) and the build's wall time. Needs a superuser (LOAD).
"""

from __future__ import annotations

import argparse
import os
import re
import time
from typing import Any

from bench import _common as common

DB = os.environ.get("BENCH_DB", "oms_bench_snapshot")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--summary", action="store_true", help="one line per statement")
    args = parser.parse_args()
    common.django_setup(DB, migrate=False)
    from django.db import connection

    from blotter.snapshot import snapshot_lines
    from oms.orders.models import Order

    notices: list[str] = []
    connection.ensure_connection()
    raw: Any = connection.connection
    raw.add_notice_handler(lambda diag: notices.append(diag.message_primary or ""))
    with connection.cursor() as cur:
        cur.execute("LOAD 'auto_explain'")
        for setting, value in (
            ("log_min_duration", "0"),
            ("log_analyze", "on"),
            ("log_buffers", "on"),
            ("log_timing", "on"),
            ("log_nested_statements", "on"),
            ("log_level", "notice"),
        ):
            cur.execute(f"SET auto_explain.{setting} = {value}")
    total = Order.objects.count()
    notices.clear()
    t0 = time.perf_counter()
    lines = list(snapshot_lines())
    wall = time.perf_counter() - t0
    size = sum(len(line) for line in lines)
    print(
        f"database {DB}: {total:,} orders; snapshot {size / 1e6:.2f} MB in {wall:.3f} s; {len(notices)} statements"
    )
    for text in notices:
        if not args.summary:
            print(text, "\n")
            continue
        # the statement's first 100 characters, then its plan with every line cut at 140 (the
        # `root_id IN (...)` lists are thousands of ids long)
        query = re.search(r"Query Text: (.*)", text)
        duration = re.search(r"duration: ([\d.]+) ms", text)
        print(
            f"-- {float(duration.group(1)) if duration else 0:.1f} ms: {(query.group(1) if query else '')[:100]}"
        )
        plan = text.split("\n", 2)[-1] if query else text
        for line in plan.splitlines():
            if line.strip():
                print("   ", line[:140])


if __name__ == "__main__":
    main()
