#!/usr/bin/env bash
# Serve the OMS (HTTP and websockets): uvicorn with WEB_WORKERS processes on one socket.
#
#   bash scripts/serve.sh                       # 127.0.0.1:8000
#   HOST=0.0.0.0 PORT=8000 WEB_WORKERS=4 bash scripts/serve.sh
#
# Each process serves HTTP on a pool of OMS_HTTP_THREADS threads (oms/serving.py) and the
# blotter's websockets on its event loop. Several processes need the shared services: with
# REDIS_URL set (the Redis channel layer, a separate publisher and Celery worker) the default is
# 2 workers (one per core of the machine the figures in docs/benchmarks.md come from); on the
# embedded defaults (in-memory channel layer, background work inside the server) it is 1 and
# more is refused, since a websocket on one process would not see another's events.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8000}"
if [ -n "${REDIS_URL:-}" ]; then
    WEB_WORKERS="${WEB_WORKERS:-2}"
else
    WEB_WORKERS="${WEB_WORKERS:-1}"
    if [ "$WEB_WORKERS" != 1 ]; then
        echo "serve.sh: WEB_WORKERS=$WEB_WORKERS needs REDIS_URL (the embedded defaults run in one process)" >&2
        exit 2
    fi
fi
# permessage-deflate compresses every frame once per socket (each connection has its own zlib
# context): at 100 desks that, not the feed, was the server's work (docs/benchmarks.md §43). The
# blotter's frames are compressed once for every socket by the application instead
# (/ws/blotter/?compress=deflate, which the page asks for); WS_PER_MESSAGE_DEFLATE=true turns the
# websocket's own back on
WS_PER_MESSAGE_DEFLATE="${WS_PER_MESSAGE_DEFLATE:-false}"
UVICORN="${UVICORN:-.venv/bin/uvicorn}"
[ -x "$UVICORN" ] || UVICORN=uvicorn

# --proxy-headers: behind a TLS-terminating proxy X-Forwarded-Proto/For are trusted from
# FORWARDED_ALLOW_IPS (uvicorn's variable; 127.0.0.1 unless set)
exec "$UVICORN" --host "$HOST" --port "$PORT" --workers "$WEB_WORKERS" \
    --http httptools --loop uvloop --ws websockets-sansio --lifespan on \
    --ws-per-message-deflate "$WS_PER_MESSAGE_DEFLATE" \
    --proxy-headers --no-access-log --timeout-graceful-shutdown 10 \
    oms.asgi:application
