#!/usr/bin/env bash
# Set up and run the OMS on this machine: the first command of the README.
#
#   bash scripts/run.sh                 # http://127.0.0.1:8000
#   PORT=9000 HOST=0.0.0.0 bash scripts/run.sh
#
# With nothing set it runs on the embedded defaults: SQLite in var/oms.sqlite3, the in-memory
# channel layer, Celery tasks in-process. DATABASE_URL / REDIS_URL switch to PostgreSQL / Redis
# (then run a Celery worker too, see README.md). It migrates, creates the demo users and demo
# orders (scripts are idempotent: a second run keeps the data), then serves the ASGI app
# (HTTP and websockets) with scripts/serve.sh (uvicorn; WEB_WORKERS processes with REDIS_URL)
# in the foreground; Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh

HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8000}"
# a local run: debug pages, static files straight from the apps (no collectstatic needed)
export DEBUG="${DEBUG:-1}"
export DJANGO_SETTINGS_MODULE=oms.settings

PY=.venv/bin/python
"$PY" manage.py migrate --noinput
"$PY" manage.py seed_demo

url_host="$HOST"
case "$HOST" in 0.0.0.0 | "::" | "[::]") url_host=127.0.0.1 ;; esac
cat <<BANNER

================================================================================
  OMS is starting at   http://$url_host:$PORT/
  log in               http://$url_host:$PORT/accounts/login/
  API docs (Swagger)   http://$url_host:$PORT/api/docs
  admin                http://$url_host:$PORT/admin/

  demo logins          desk / desk-demo-pw     (desk trader: reads and sends commands)
                       viewer / viewer-demo-pw (read only)
                       admin / admin-demo-pw   (superuser)
  API tokens           printed above; use  Authorization: Token <key>
  stop                 Ctrl-C
================================================================================

BANNER
HOST="$HOST" PORT="$PORT" exec bash scripts/serve.sh
