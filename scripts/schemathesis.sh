#!/usr/bin/env bash
# Fuzz the live API against its own OpenAPI schema (/api/schema) with schemathesis: every
# operation, as the demo desk user, on a fresh seeded database (demo orders, executions, quote
# requests and quotes: scripts/schemathesis_hooks.py adds examples naming them, so commands are
# accepted, not only refused). Fails on any server error, response not matching the schema,
# undocumented status code or content type, or when no command of a topic was accepted (2xx).
#
#   bash scripts/schemathesis.sh                  # embedded defaults: a throwaway SQLite database
#   ST_MAX_EXAMPLES=100 ST_SEED=7 bash scripts/schemathesis.sh   # more cases per operation (default 20)
#
# It always runs on a throwaway SQLite database with in-process tasks (DATABASE_URL and REDIS_URL
# are ignored: the fuzzer must never write into a real database). Extra arguments go to `st run`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=.venv/bin/python
WORK="$(mktemp -d "${TMPDIR:-/tmp}/oms-st.XXXXXX")"
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        timeout 20 tail --pid="$SERVER_PID" -f /dev/null || kill -9 "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

unset DATABASE_URL REDIS_URL SQLITE_PATH CELERY_BROKER_URL || true
export OMS_VAR_DIR="$WORK" DEBUG=0 OMS_INPROCESS_WORKERS=0
timeout 300 "$PY" manage.py migrate --noinput -v 0
token="$(timeout 120 "$PY" manage.py seed_demo --force | awk '$1 == "desk" {print $3}')"
[ -n "$token" ] || { echo "schemathesis: no desk token from seed_demo" >&2; exit 1; }
port="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
.venv/bin/daphne -b 127.0.0.1 -p "$port" oms.asgi:application >"$WORK/daphne.log" 2>&1 &
SERVER_PID=$!
url="http://127.0.0.1:$port"
deadline=$((SECONDS + 60))
until curl -sf -o /dev/null "$url/api/schema"; do
    if ! kill -0 "$SERVER_PID" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
        tail -50 "$WORK/daphne.log" >&2
        echo "schemathesis: daphne did not come up on $url" >&2
        exit 1
    fi
    sleep 1
done

echo "schemathesis against $url (desk user)"
export OMS_URL="$url" OMS_TOKEN="$token" ST_ACCEPTED_FILE="$WORK/accepted.json"
export PYTHONPATH="$PWD/scripts${PYTHONPATH:+:$PYTHONPATH}" SCHEMATHESIS_HOOKS=schemathesis_hooks
set +e
timeout 400 .venv/bin/st run "$url/api/schema" \
    --header "Authorization: Token $token" \
    --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
    --phases examples,coverage,fuzzing \
    --max-examples "${ST_MAX_EXAMPLES:-20}" \
    --workers 1 \
    --seed "${ST_SEED:-1}" \
    --request-timeout 20 \
    --suppress-health-check all \
    --no-color \
    --generation-database none \
    --report junit --report-dir "$WORK/report" \
    "$@"
rc=$?
set -e
if [ "$rc" -eq 0 ]; then
    # commands accepted, not only refused: at least one command type of every topic answered 2xx
    "$PY" - "$ST_ACCEPTED_FILE" <<'PY' || rc=1
import json, sys

accepted = json.load(open(sys.argv[1]))
topics = ["orders", "executions", "quote-requests", "quotes"]
missing = [t for t in topics if not accepted.get(f"/api/commands/{t}")]
for t in topics:
    print(f"accepted (2xx) on {t}: {', '.join(sorted(set(accepted.get(f'/api/commands/{t}', [])))) or 'none'}")
if missing:
    sys.exit(f"schemathesis: no command accepted on {', '.join(missing)}")
PY
fi
if [ "$rc" -ne 0 ]; then
    echo "schemathesis: failed (exit $rc); server log:" >&2
    grep -E "ERROR|Traceback" -A5 "$WORK/daphne.log" | tail -60 >&2 || true
fi
exit "$rc"
