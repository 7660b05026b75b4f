#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the test suite in parallel (pytest-xdist). Extra arguments go
# to pytest:  bash scripts/test.sh tests/test_celery_worker.py -x -v
#
# With nothing set the tests use the embedded defaults (SQLite test databases, in-process
# Celery). Against PostgreSQL and Redis (each xdist worker gets its own test database; Celery
# tasks run on a real worker in tests/test_celery_worker.py):
#   DATABASE_URL=postgres://root@127.0.0.1:5432/oms REDIS_URL=redis://127.0.0.1:6379/15 bash scripts/test.sh
# OMS_TEST_WORKERS sets the number of xdist workers (default: the CPU count, at most 4; 0 = none).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh

cpus="$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)"
workers="${OMS_TEST_WORKERS:-$((cpus < 4 ? cpus : 4))}"
backends="$([ -n "${DATABASE_URL:-}" ] && echo "DATABASE_URL" || echo "SQLite"), $([ -n "${REDIS_URL:-}" ] && echo "REDIS_URL" || echo "in-process Celery")"
echo "test.sh: pytest -n $workers on $backends"
# exec: pytest's exit status is the script's (5 = no tests collected is a failure, not hidden)
exec .venv/bin/python -m pytest -n "$workers" "$@"
