#!/usr/bin/env bash
# Run every benchmark (about 12-15 minutes) and keep the output in var/bench/run_all.log.
# Needs PostgreSQL on 127.0.0.1:5432 (BENCH_PGHOST/BENCH_PGPORT/BENCH_PGUSER/BENCH_PGPASSWORD to
# change) with durable commits; each benchmark creates and drops its own database. Step 5 also
# needs Redis (BENCH_REDIS_URL, default redis://127.0.0.1:6379/2) and redis-benchmark; step 6
# needs Debian's chromium (/usr/bin/chromium).
#   bash bench/run_all.sh            # everything, defaults as in docs/benchmarks.md
#   PY=python3 bash bench/run_all.sh # another interpreter (default .venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"
mkdir -p var/bench
LOG=var/bench/run_all.log
{
  echo "=== $(date -u '+%Y-%m-%d %H:%M:%S UTC') $(git rev-parse --short HEAD 2>/dev/null || true), load $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "=== 1. commands (in-process dispatch vs raw psycopg floor vs eventsourcing), then a profile"
  "$PY" -m bench.commands --seconds 20 --rounds 4 --profile 300 --keep-db
  echo "=== 1b. a second sample (custom plans are now the default; PGOPTIONS kept for older commits)"
  PGOPTIONS="-c plan_cache_mode=force_custom_plan" "$PY" -m bench.commands --seconds 20 --rounds 4 \
    --db oms_bench_custom --name commands_force_custom_plan
  echo "=== 2. replay verify (reuses the commands database, then drops it)"
  "$PY" -m bench.replay --reuse-db --repeat 3
  echo "=== 3. HTTP API (daphne, 1 and 4 clients)"
  "$PY" -m bench.http_api --seconds 10 --rounds 2 --clients 4
  echo "=== 4. blotter query over 200,000 orders"
  "$PY" -m bench.blotter_query --orders 200000 --iterations 300
  echo "=== 5. event publication: commit -> Redis Stream lag, backlog drain beside redis-py and redis-benchmark"
  "$PY" -m bench.publisher --seconds 15 --rate 100 --backlog 50000 --rounds 2
  echo "=== 6. blotter in headless Chromium: commit -> cell latency, dropped updates, page memory"
  "$PY" -m bench.blotter --orders 10000 --seconds 30 --rate 1000 --writers 2
  echo "=== done $(date -u '+%Y-%m-%d %H:%M:%S UTC'), load $(cut -d' ' -f1-3 /proc/loadavg)"
} 2>&1 | tee "$LOG"
