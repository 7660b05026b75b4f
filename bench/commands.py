"""Command throughput in one process: the OMS write path beside a raw-SQL floor and a peer library.

    .venv/bin/python -m bench.commands [--seconds 20 | --orders N] [--rounds 3] [--profile 300]

Each order is the sequence of bench/workload.py (5 commands, one transaction each). Three systems
run the same number of orders, interleaved in rounds (the machine is noisy and shared, so each
round runs all three back to back, rotating which goes first):

- oms:   `oms.core.dispatch.dispatch(...)`, the API's path minus HTTP.
- lock:  the same with OMS_OPTIMISTIC_WRITES off: every command locks and reads its rows first
         (the write path before the optimistic first attempt), the baseline in the same run.
- raw:   psycopg 3 replaying exactly the statements the OMS issued for one captured order
         (captured with `connection.execute_wrapper`, ids substituted per order, the same
         transactions, the same pipeline batches, the same binding mode, parameters prepared
         before the clock starts): the floor for this schema on this machine.
- es:    the `eventsourcing` library (PostgreSQL persistence): aggregates BenchOrder and
         BenchExecution, one Application method per command, `repository.get` then `save`
         (one transaction), the same events per command (1, 2, 1, 3, 3).

Reported: commands/s per system (total commands / total time), its ratio to the others, p50/p99
per command type. `--profile N` then profiles N more OMS orders (pyinstrument when installed,
else cProfile) and prints the hot spots. `--cpu-profile N` profiles N more with cProfile on this
process's CPU clock and prints where the client CPU per command goes, by package (own time) and by
stage of the write path (inclusive time of the functions that mark each stage). The database (default oms_bench) is created and dropped
unless --keep-db (bench/replay.py can reuse it).
"""

from __future__ import annotations

import argparse
import io
import os
import re
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.types.json import Json, Jsonb

from bench import _common as common
from bench import workload as wl

CLOCK = time.perf_counter

# --- the OMS ------------------------------------------------------------------------------------


def oms_send(topic: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    from oms.core.dispatch import dispatch

    result = dispatch(topic, body, actor="bench")
    return result.status_code, result.body


def run_oms(tag: str, first: int, n: int, lat: dict[str, list[float]], *, optimistic: bool = True) -> float:
    """`optimistic` False: every command locks and reads its rows first (the write path before
    the optimistic first attempt), the baseline in the same run."""
    from django.conf import settings

    record = _recorder(lat)
    saved = settings.OMS_OPTIMISTIC_WRITES
    settings.OMS_OPTIMISTIC_WRITES = optimistic
    try:
        t0 = CLOCK()
        for i in range(first, first + n):
            wl.run_order(oms_send, record, tag, i, CLOCK)
        return CLOCK() - t0
    finally:
        settings.OMS_OPTIMISTIC_WRITES = saved


def _recorder(lat: dict[str, list[float]]) -> Callable[[str, float], None]:
    def record(label: str, seconds: float) -> None:
        lat[label].append(seconds)

    return record


# --- the raw floor: the OMS's own statements, replayed with psycopg --------------------------------


@dataclass
class Stmt:
    sql: str
    params: Any
    many: bool
    group: int  # statements of one psycopg pipeline share a group; -1 = not pipelined
    seq_update: bool = False
    seq_positions: list[int] = field(default_factory=list)  # explicit seq values to shift (if any)


@dataclass
class Captured:
    label: str
    stmts: list[Stmt]
    seq_after: int


@dataclass
class Capture:
    commands: list[Captured]
    tokens: list[str]  # per-order unique strings (ids, clOrdIDs, execIDs, correlation ids)
    binding: str  # "server" or "client"
    prepare_threshold: int | None

    def statements(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.commands:
            out[c.label] = len(c.stmts)
        return out

    def describe(self) -> str:
        lines = [f"binding: {self.binding}, prepare_threshold: {self.prepare_threshold}"]
        for c in self.commands:
            lines.append(
                f"\n== {c.label}: {len(c.stmts)} statements, {self.round_trips()[c.label]} round trips"
            )
            for s in c.stmts:
                where = f"pipeline {s.group}" if s.group >= 0 else "alone"
                lines.append(f"[{where}] {' '.join(s.sql.split())[:400]}")
            lines.append("[alone] COMMIT")
        return "\n".join(lines) + "\n"

    def round_trips(self) -> dict[str, int]:
        """Statements not in a pipeline are one round trip each, a pipeline is one; +1 for COMMIT."""
        out: dict[str, int] = {}
        for c in self.commands:
            groups = {s.group for s in c.stmts if s.group >= 0}
            out[c.label] = sum(1 for s in c.stmts if s.group < 0) + len(groups) + 1
        return out


def capture_one_order(tag: str, i: int) -> Capture:
    """Run one order through dispatch, recording every statement each command issues."""
    from django.db import connection

    commands: list[Captured] = []
    current: list[Stmt] = []
    recording = [False]
    pipes: dict[int, int] = {}

    def wrapper(execute, sql, params, many, context):  # type: ignore[no-untyped-def]  # Django's execute_wrapper signature, untyped upstream
        if recording[0]:
            pipe = getattr(connection.connection, "_pipeline", None)
            group = -1 if pipe is None else pipes.setdefault(id(pipe), len(pipes))
            current.append(Stmt(sql, params, many, group))
        return execute(sql, params, many, context)

    def last_seq() -> int:
        with connection.cursor() as cur:
            cur.execute("SELECT last_seq FROM oms_event_sequence WHERE id = 1")
            return int(cur.fetchone()[0])

    labels = iter([wl.CREATE_CLIENT, wl.CREATE_MARKET, wl.ACCEPT, wl.EXECUTE, wl.EXECUTE])
    correlation_ids: list[str] = []

    def send(topic: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        before = last_seq()
        current.clear()
        pipes.clear()
        recording[0] = True
        try:
            status, out = oms_send(topic, body)
        finally:
            recording[0] = False
        after = last_seq()
        stmts = list(current)
        for s in stmts:
            _mark_seq(s, before, after)
        commands.append(Captured(next(labels), stmts, after))
        correlation_ids.extend({e["correlationId"] for e in out.get("events", [])})
        return status, out

    with connection.execute_wrapper(wrapper):
        result = wl.run_order(send, lambda label, s: None, tag, i, CLOCK)
    tokens = [
        result["client"]["order"]["orderId"],
        result["market"]["order"]["orderId"],
        *(f["execution"]["executionId"] for f in result["fills"]),
        wl.client_order(tag, i)["clOrdID"],
        wl.market_order(tag, i, "")["clOrdID"],
        *(wl.execute(tag, i, k, "")["execID"] for k in range(2)),
        *correlation_ids,
        # a position's id and key are (account, venue, symbol): the captured order's first fill
        # inserted it, so each replayed order gets a position of its own (an insert, as
        # captured) instead of colliding with the captured one
        *_position_ids(commands),
        wl.client_order(tag, i)["account"],
    ]
    options = connection.settings_dict.get("OPTIONS", {})
    return Capture(
        commands,
        tokens,
        "server" if options.get("server_side_binding") is True else "client",
        getattr(connection.connection, "prepare_threshold", None),
    )


_POSITION_ID = re.compile(r"^P[0-9A-F]{24}$")


def _position_ids(commands: list[Captured]) -> set[str]:
    return {
        v
        for c in commands
        for st in c.stmts
        for v in (st.params if isinstance(st.params, (list, tuple)) else ())
        if isinstance(v, str) and _POSITION_ID.match(v)
    }


def _mark_seq(s: Stmt, before: int, after: int) -> None:
    head = s.sql.lstrip()[:200].upper()
    if head.startswith("UPDATE") and "OMS_EVENT_SEQUENCE" in head:
        s.seq_update = True
        return
    if s.many or not head.startswith("INSERT") or "OMS_EVENT_SEQUENCE" in s.sql.upper():
        return
    columns = s.sql.split("(", 1)[1].split(")", 1)[0] if "(" in s.sql else ""
    if not re.search(r'(^|[\s,"])seq("|\s|,|$)', columns):
        return
    s.seq_positions = [
        k
        for k, v in enumerate(s.params or [])
        if isinstance(v, int) and not isinstance(v, bool) and before < v <= after
    ]


def _substitute(value: Any, fn: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, Jsonb):
        return Jsonb(_substitute(value.obj, fn), value.dumps)
    if isinstance(value, Json):
        return Json(_substitute(value.obj, fn), value.dumps)
    if isinstance(value, dict):
        return {(fn(k) if isinstance(k, str) else k): _substitute(v, fn) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, fn) for v in value]
    if isinstance(value, tuple):
        return tuple(_substitute(v, fn) for v in value)
    return value


class RawFloor:
    """Replays the captured statements for new orders on a plain psycopg connection."""

    def __init__(self, capture: Capture, dbname: str):
        self.capture = capture
        pattern = "|".join(re.escape(t) for t in sorted(set(capture.tokens), key=len, reverse=True))
        self.token_re = re.compile(pattern)
        for c in capture.commands:
            if any(s.seq_positions and s.group >= 0 for s in c.stmts):
                raise RuntimeError("explicit seq values inside a pipeline: the floor cannot replay them")
        factory = psycopg.Cursor if capture.binding == "server" else psycopg.ClientCursor
        self.conn = psycopg.connect(
            common.conninfo(dbname),
            autocommit=False,
            cursor_factory=factory,
            prepare_threshold=capture.prepare_threshold,
        )

    def close(self) -> None:
        self.conn.close()

    def prepare(self, n: int, first: int) -> list[list[list[Any]]]:
        """Parameters of every statement of every command for orders first..first+n-1 (untimed)."""
        out = []
        for i in range(first, first + n):
            suffix = f".r{i}"

            def fn(text: str, suffix: str = suffix) -> str:
                return self.token_re.sub(lambda m: m.group(0) + suffix, text)

            out.append([[_substitute(s.params, fn) for s in c.stmts] for c in self.capture.commands])
        return out

    def run(self, prepared: list[list[list[Any]]], lat: dict[str, list[float]]) -> float:
        conn = self.conn
        commands = self.capture.commands
        t0 = CLOCK()
        for order in prepared:
            for cmd, params in zip(commands, order, strict=True):
                t = CLOCK()
                self._one(conn, cmd, params)
                conn.commit()
                lat[cmd.label].append(CLOCK() - t)
        return CLOCK() - t0

    @staticmethod
    def _one(conn: psycopg.Connection[Any], cmd: Captured, params: list[Any]) -> None:
        shift = 0
        k = 0
        stmts = cmd.stmts
        while k < len(stmts):
            s = stmts[k]
            if s.group >= 0:
                group = s.group
                cursors = []
                with conn.pipeline():
                    while k < len(stmts) and stmts[k].group == group:
                        cur = conn.cursor()
                        _exec(cur, stmts[k], params[k])
                        cursors.append(cur)
                        k += 1
                for cur in cursors:
                    if cur.description is not None:
                        cur.fetchall()
                    cur.close()
                continue
            p = params[k]
            if s.seq_positions and shift:
                p = list(p)
                for pos in s.seq_positions:
                    p[pos] = p[pos] + shift
            with conn.cursor() as cur:
                _exec(cur, s, p)
                if cur.description is not None:
                    rows = cur.fetchall()
                    if s.seq_update:
                        shift = int(rows[0][0]) - cmd.seq_after
            k += 1


def _exec(cur: psycopg.Cursor[Any], s: Stmt, params: Any) -> None:
    if s.many:
        cur.executemany(s.sql, params)
    elif params is None:
        cur.execute(s.sql)
    else:
        cur.execute(s.sql, params)


# --- the peer: the eventsourcing library --------------------------------------------------------


def make_es_app(dbname: str) -> Any:
    from eventsourcing.application import Application
    from eventsourcing.domain import Aggregate, event

    class BenchOrder(Aggregate):
        @event("Created")
        def __init__(
            self,
            cl_ord_id: str,
            kind: str,
            symbol: str,
            side: str,
            order_qty: Decimal,
            price: Decimal,
            account: str,
            venue: str | None,
            parent_id: Any,
        ) -> None:
            self.cl_ord_id = cl_ord_id
            self.kind = kind
            self.symbol = symbol
            self.side = side
            self.order_qty = order_qty
            self.price = price
            self.account = account
            self.venue = venue
            self.parent_id = parent_id
            self.status = "New" if kind == "Client" else "PendingNew"
            self.cum_qty = Decimal(0)
            self.gross = Decimal(0)
            self.placed_qty = Decimal(0)

        def _derive(self) -> None:
            if self.cum_qty >= self.order_qty:
                self.status = "Filled"
            elif self.cum_qty > 0:
                self.status = "PartiallyFilled"

        @event("Accepted")
        def accept(self) -> None:
            self.status = "New"

        @event("Filled")
        def fill(self, execution_id: Any, last_qty: Decimal, last_px: Decimal) -> None:
            self.cum_qty += last_qty
            self.gross += last_qty * last_px
            self._derive()

        @event("ChildUpdated")
        def child_updated(
            self, child_id: Any, cum_delta: Decimal, gross_delta: Decimal, placed_delta: Decimal
        ) -> None:
            self.cum_qty += cum_delta
            self.gross += gross_delta
            self.placed_qty += placed_delta
            self._derive()

    class BenchExecution(Aggregate):
        @event("Allocated")
        def __init__(
            self,
            exec_id: str,
            order_id: Any,
            client_order_id: Any,
            last_qty: Decimal,
            last_px: Decimal,
            venue: str,
        ) -> None:
            self.exec_id = exec_id
            self.order_id = order_id
            self.client_order_id = client_order_id
            self.last_qty = last_qty
            self.last_px = last_px
            self.venue = venue

    class BenchOMS(Application[Any]):
        def create_client(self, body: dict[str, Any]) -> Any:
            order = BenchOrder(
                body["clOrdID"], "Client", body["symbol"], body["side"], Decimal(body["orderQty"]),
                Decimal(body["price"]), body["account"], None, None,
            )  # fmt: skip
            self.save(order)
            return order.id

        def create_market(self, body: dict[str, Any], parent_id: Any) -> Any:
            parent = self.repository.get(parent_id)
            qty = Decimal(body["orderQty"])
            order = BenchOrder(
                body["clOrdID"], "Market", parent.symbol, parent.side, qty, Decimal(body["price"]),
                parent.account, body["venue"], parent_id,
            )  # fmt: skip
            parent.child_updated(order.id, Decimal(0), Decimal(0), qty)
            self.save(order, parent)
            return order.id

        def accept(self, order_id: Any) -> None:
            order = self.repository.get(order_id)
            order.accept()
            self.save(order)

        def execute(self, body: dict[str, Any], order_id: Any) -> str:
            order = self.repository.get(order_id)
            parent = self.repository.get(order.parent_id)
            qty, px = Decimal(body["lastQty"]), Decimal(body["lastPx"])
            execution = BenchExecution(body["execID"], order_id, parent.id, qty, px, body["venue"])
            order.fill(execution.id, qty, px)
            parent.child_updated(order.id, qty, qty * px, Decimal(0))
            self.save(execution, order, parent)
            return str(order.status)

    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": dbname,
        "POSTGRES_HOST": common.PG_HOST,
        "POSTGRES_PORT": common.PG_PORT,
        "POSTGRES_USER": common.PG_USER,
        "POSTGRES_PASSWORD": common.PG_PASSWORD,
        "CREATE_TABLE": "y",
    }
    return BenchOMS(env=env)


def run_es(app: Any, tag: str, first: int, n: int, lat: dict[str, list[float]]) -> float:
    t0 = CLOCK()
    for i in range(first, first + n):
        t = CLOCK()
        client_id = app.create_client(wl.client_order(tag, i))
        lat[wl.CREATE_CLIENT].append(CLOCK() - t)
        t = CLOCK()
        market_id = app.create_market(wl.market_order(tag, i, ""), client_id)
        lat[wl.CREATE_MARKET].append(CLOCK() - t)
        t = CLOCK()
        app.accept(market_id)
        lat[wl.ACCEPT].append(CLOCK() - t)
        for k in range(2):
            t = CLOCK()
            status = app.execute(wl.execute(tag, i, k, ""), market_id)
            lat[wl.EXECUTE].append(CLOCK() - t)
        if status != "Filled":
            raise wl.CommandFailed(f"eventsourcing order {market_id} ended {status}")
    return CLOCK() - t0


# --- profiling ----------------------------------------------------------------------------------


def profile_oms(tag: str, first: int, n: int) -> str:
    lat: dict[str, list[float]] = defaultdict(list)
    try:
        from pyinstrument import Profiler
        from pyinstrument.renderers import ConsoleRenderer
    except ImportError:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.enable()
        run_oms(tag, first, n, lat)
        prof.disable()
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(60)
        buf.write("\n--- by own time ---\n")
        pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(40)
        return buf.getvalue()
    profiler = Profiler(interval=0.001)
    profiler.start()
    run_oms(tag, first, n, lat)
    profiler.stop()
    tree = profiler.output(
        ConsoleRenderer(unicode=False, color=False, show_all=False, time="percent_of_total")
    )
    flat = profiler.output(
        ConsoleRenderer(unicode=False, color=False, flat=True, time="percent_of_total", show_all=True)
    )
    flat_total = profiler.output(
        ConsoleRenderer(unicode=False, color=False, flat=True, flat_time="total", time="percent_of_total")
    )
    return (
        f"{n} orders, {n * wl.COMMANDS_PER_ORDER} commands\n\n=== call tree (application code) ===\n{tree}\n"
        f"=== flat, own time (all code) ===\n{flat}\n=== flat, total time (application code) ===\n{flat_total}"
    )


# the packages a command's own CPU time is summed by (first match of the code's file path)
_CPU_PACKAGES = (
    ("psycopg (driver: adapt, send, parse results)", ("/psycopg/", "psycopg_binary")),
    ("django (connection, atomic, cursor wrapper)", ("/django/",)),
    ("asgiref (thread-sensitive locals)", ("/asgiref/",)),
    ("msgspec / json (codecs)", ("/msgspec/", "/json/")),
    ("oms.core (dispatch, unit of work, sql, metrics)", ("/oms/core/",)),
    ("oms.orders / executions / positions (the domain)", ("/oms/orders/", "/executions/", "/oms/positions/")),
    ("rules (routing, pre-trade checks, controls)", ("/rules/",)),
    ("oms.venues (after-commit reactions)", ("/oms/venues/",)),
    ("bench harness", ("/bench/",)),
)
# inclusive CPU of the functions that mark the write path's stages (file suffix, function name)
_CPU_STAGES = (
    ("parse and validate the command", ("oms/core/commands.py", "parse")),
    ("commit: SQL parameters + the write pipeline", ("oms/core/eventstore.py", "commit")),
    ("routing by the data rules (route_new_order)", ("rules/routing.py", "route_new_order")),
    ("pre-trade checks (check_new_order)", ("rules/pretrade.py", "check_new_order")),
    ("pre-trade reads sent ahead (prefetch)", ("rules/pretrade.py", "prefetch")),
    ("COMMIT and after-commit hooks", ("django/db/transaction.py", "__exit__")),
    ("metrics (prometheus histograms)", ("prometheus_client/metrics.py", "observe")),
    ("create handler (claim, reads, checks, events)", ("oms/orders/services.py", "order_create")),
    ("execute handler (fill, position)", ("executions/services.py", "execution_execute")),
)


def cpu_profile_oms(tag: str, first: int, n: int) -> str:
    """cProfile on the process's CPU clock (waiting on the server costs nothing here): the client
    CPU per command by package and by stage. cProfile's own per-call cost inflates pure-Python
    code more than C, so the shares are an upper bound for Python-heavy parts."""
    import cProfile
    import pstats

    lat: dict[str, list[float]] = defaultdict(list)
    prof = cProfile.Profile(time.process_time)
    cpu0 = time.process_time()
    prof.enable()
    run_oms(tag, first, n, lat)
    prof.disable()
    cpu_total = time.process_time() - cpu0
    stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    commands = n * wl.COMMANDS_PER_ORDER
    own: dict[str, float] = defaultdict(float)
    stage: dict[str, float] = defaultdict(float)
    for (path, _line, func), (_cc, _nc, tottime, cumtime, _callers) in stats.items():
        label = next((name for name, keys in _CPU_PACKAGES if any(k in path for k in keys)), None)
        if label is None:
            label = "C builtins" if path == "~" else "other Python (stdlib, libraries)"
        own[label] += tottime
        for name, (suffix, fname) in _CPU_STAGES:
            if path.endswith(suffix) and func == fname:
                stage[name] = max(stage[name], cumtime)
    profiled = sum(own.values())
    lines = [
        f"{n} orders, {commands} commands; CPU {cpu_total * 1000 / commands:.2f} ms/command under cProfile",
        "",
    ]
    lines.append("| own CPU by package | ms/command | share |")
    lines.append("|---|---|---|")
    for name, secs in sorted(own.items(), key=lambda kv: -kv[1]):
        lines.append(f"| {name} | {secs * 1000 / commands:.3f} | {secs / profiled:.0%} |")
    lines += ["", "| stage (inclusive CPU) | ms/command | share |", "|---|---|---|"]
    for name, _key in _CPU_STAGES:
        secs = stage.get(name, 0.0)
        lines.append(f"| {name} | {secs * 1000 / commands:.3f} | {secs / profiled:.0%} |")
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(30)
    return "\n".join(lines) + "\n\n--- top functions by own CPU ---\n" + buf.getvalue()


# --- main ---------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", default=common.DEFAULT_DB)
    ap.add_argument("--seconds", type=float, default=20.0, help="target OMS time in total (sets --orders)")
    ap.add_argument("--orders", type=int, default=0, help="orders per system in total (overrides --seconds)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=30, help="untimed orders per system first")
    ap.add_argument("--profile", type=int, default=0, metavar="N", help="then profile N more OMS orders")
    ap.add_argument("--cpu-profile", type=int, default=0, metavar="N", help="then N more on the CPU clock")
    ap.add_argument("--skip-es", action="store_true")
    ap.add_argument("--keep-db", action="store_true", help="leave the database for bench/replay.py")
    ap.add_argument("--name", default="commands", help="results file var/bench/<name>.json")
    args = ap.parse_args()

    notes = common.machine_notes()
    common.create_db(args.db)
    try:
        result = _run(args, notes)
    finally:
        if not args.keep_db:
            common.drop_db(args.db)
    result["pgoptions"] = os.environ.get("PGOPTIONS", "")
    path = common.save_result(args.name, result)
    print(f"\nresults: {path}")


def _run(args: argparse.Namespace, notes: dict[str, Any]) -> dict[str, Any]:
    common.django_setup(args.db)
    from django.db import connection

    run_id = f"{int(time.time()) % 100000:05d}"
    tag = f"b{run_id}"
    systems = ["oms", "lock", "raw"] + ([] if args.skip_es else ["es"])
    lat: dict[str, dict[str, list[float]]] = {s: defaultdict(list) for s in systems}
    elapsed = dict.fromkeys(systems, 0.0)
    cpu = dict.fromkeys(systems, 0.0)  # this process's CPU time: Python + driver, not the server
    per_round: dict[str, list[float]] = {s: [] for s in systems}

    # warm-up (untimed) and the capture the raw floor replays; calibrate N on the warm-up
    scratch: dict[str, list[float]] = defaultdict(list)
    warm = run_oms(tag, 0, args.warmup, scratch)
    capture = capture_one_order(tag, args.warmup)
    next_oms = args.warmup + 1
    raw = RawFloor(capture, args.db)
    raw.run(raw.prepare(args.warmup, 0), defaultdict(list))
    next_raw = args.warmup
    es = None
    if "es" in systems:
        es = make_es_app(args.db)
        run_es(es, f"{tag}e", 0, args.warmup, defaultdict(list))
    next_es = args.warmup
    rate = args.warmup / warm
    total = args.orders or max(args.rounds * 20, int(rate * args.seconds))
    per = max(1, total // args.rounds)
    print(
        f"warm-up OMS {args.warmup * wl.COMMANDS_PER_ORDER / warm:.0f} commands/s; "
        f"running {per} orders x {args.rounds} rounds per system ({per * args.rounds * wl.COMMANDS_PER_ORDER} commands)"
    )
    common.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (common.RESULTS_DIR / "commands_captured_sql.txt").write_text(capture.describe())
    print(f"OMS statements per command (captured): {capture.statements()}")
    print(f"OMS round trips per command (incl. COMMIT): {capture.round_trips()}")

    for r in range(args.rounds):
        order = systems[r % len(systems) :] + systems[: r % len(systems)]
        line = []
        for s in order:
            prepared = raw.prepare(per, next_raw) if s == "raw" else []  # untimed
            c0 = time.process_time()
            if s in ("oms", "lock"):
                secs = run_oms(tag, next_oms, per, lat[s], optimistic=s == "oms")
                next_oms += per
            elif s == "raw":
                secs = raw.run(prepared, lat["raw"])
                next_raw += per
            else:
                secs = run_es(es, f"{tag}e", next_es, per, lat["es"])
                next_es += per
            elapsed[s] += secs
            cpu[s] += time.process_time() - c0
            per_round[s].append(per * wl.COMMANDS_PER_ORDER / secs)
            line.append(f"{s} {per * wl.COMMANDS_PER_ORDER / secs:,.0f}/s")
        print(f"round {r + 1}: " + ", ".join(line))
    raw.close()

    n_cmds = per * args.rounds * wl.COMMANDS_PER_ORDER
    rates = {s: n_cmds / elapsed[s] for s in systems}
    result: dict[str, Any] = {
        "machine": notes,
        "orders_per_system": per * args.rounds,
        "commands_per_system": n_cmds,
        "rounds": args.rounds,
        "commands_per_s": rates,
        "commands_per_s_by_round": per_round,
        "seconds": elapsed,
        "client_cpu_ms_per_command": {s: cpu[s] / n_cmds * 1e3 for s in systems},
        "wall_ms_per_command": {s: elapsed[s] / n_cmds * 1e3 for s in systems},
        "latency": {s: {k: common.latency_summary(v) for k, v in lat[s].items()} for s in systems},
        "oms_statements_per_command": capture.statements(),
        "oms_round_trips_per_command": capture.round_trips(),
        "oms_binding": capture.binding,
    }
    with connection.cursor() as cur:
        cur.execute("SELECT (SELECT count(*) FROM order_events) + (SELECT count(*) FROM execution_events)")
        result["oms_events_in_db"] = cur.fetchone()[0]

    print("\nThroughput (one process, one command per transaction, durable commits)")
    names = {
        "oms": "OMS dispatch",
        "lock": "OMS, locks first (before)",
        "raw": "raw psycopg floor",
        "es": "eventsourcing 9.5 (peer)",
    }
    common.print_table(
        ["system", "commands/s", "per round", "OMS / this", "wall ms/cmd", "client CPU ms/cmd"],
        [
            [
                names[s],
                f"{rates[s]:,.0f}",
                " / ".join(f"{x:,.0f}" for x in per_round[s]),
                f"{rates['oms'] / rates[s]:.2f}",
                f"{elapsed[s] / n_cmds * 1e3:.2f}",
                f"{cpu[s] / n_cmds * 1e3:.2f}",
            ]
            for s in systems
        ],
    )
    print("\nLatency per command type (ms)")
    rows = []
    for label in wl.COMMAND_LABELS:
        row = [label]
        for s in systems:
            st = result["latency"][s].get(label, {})
            row.append(f"{st.get('p50_ms', 0):.2f} / {st.get('p99_ms', 0):.2f}")
        rows.append(row)
    common.print_table(["command", *(f"{names[s]} p50 / p99" for s in systems)], rows)

    if args.profile:
        text = profile_oms(f"{tag}p", 10**6, args.profile)
        _keep_profile(result, "profile_file", "commands_profile.txt", text)
        print(f"\nprofile of {args.profile} OMS orders: {result['profile_file']}")
        print(text[:6000])
    if args.cpu_profile:
        text = cpu_profile_oms(f"{tag}c", 2 * 10**6, args.cpu_profile)
        _keep_profile(result, "cpu_profile_file", "commands_cpu_profile.txt", text)
        print(f"\nCPU profile of {args.cpu_profile} OMS orders: {result['cpu_profile_file']}")
        print(text[:8000])
    return result


def _keep_profile(result: dict[str, Any], key: str, filename: str, text: str) -> None:
    path = common.RESULTS_DIR / filename
    common.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    result[key] = str(path)


if __name__ == "__main__":
    main()
