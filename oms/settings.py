"""Settings from the environment.

With nothing set, the embedded defaults need nothing installed: SQLite, the in-memory channel
layer and Celery tasks run in-process. `DATABASE_URL` switches to PostgreSQL (psycopg 3 with a
connection pool), `REDIS_URL` to Redis for the channel layer and the Celery broker.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dj_database_url
import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured

from oms.env import env_bool, env_int, env_list, env_str
from oms.lifecycle.config import parse_retention

# the classes django-stubs types as generic (ModelAdmin[Order], Paginator[Any]) accept the
# subscript at run time too
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("OMS_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)
_INSECURE_DEV_KEY = "django-insecure-embedded-default-only-for-local-development"
# an empty SECRET_KEY counts as unset (docker-compose passes `${SECRET_KEY:-}` through)
SECRET_KEY = env_str("SECRET_KEY", "") or (
    _INSECURE_DEV_KEY if DEBUG or not env_bool("OMS_PRODUCTION", False) else ""
)
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set when OMS_PRODUCTION=1")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "oms.core",
    "oms.orders",
    "oms.quotes",
    "oms.positions",
    "executions",
    "oms.lifecycle",
    "rules",
    "oms.venues",
    "oms.venues.ccxt",
    "oms.reconciliation",
    "blotter",
    "oms.observability",
    "oms.api",
]

MIDDLEWARE = [
    # last on the way out: a rendered API response's cycles broken, its data freed at once
    "oms.api.middleware.ReleaseRenderedResponseMiddleware",
    # before anything reads the body: an oversized request is a 413, not a 400 or a 500
    "oms.api.errors.PayloadTooLargeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "oms.urls"
WSGI_APPLICATION = "oms.wsgi.application"
ASGI_APPLICATION = "oms.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- database -------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", "")
OMS_DATABASE_OWNER: dict[str, str] = {}  # with DATABASE_OWNER_URL: the owner's connection settings
OMS_DATABASE_APP_ROLE = ""  # ... and the application role granted after every migrate
OMS_DATABASE_APP_PASSWORD = ""
if DATABASE_URL:
    _db = dj_database_url.parse(DATABASE_URL, conn_max_age=0)
    if _db["ENGINE"] == "django.db.backends.postgresql":
        # psycopg 3's pool keeps connections warm; it replaces CONN_MAX_AGE (which must be 0).
        _db["OPTIONS"] = {
            # server-side parameter binding lets psycopg prepare the hot statements once per
            # connection instead of quoting literals into every query
            "server_side_binding": env_bool("DB_SERVER_SIDE_BINDING", True),
            # prepared after 5 uses; set DB_PREPARE_THRESHOLD=0 behind a transaction-mode pooler
            "prepare_threshold": env_int("DB_PREPARE_THRESHOLD", 5) or None,
            # prepared statements keep their parse, not a generic plan: a generic plan made while
            # `orders` was small (a hash join over a seq scan for the tree lock) stayed cached
            # as the table grew and took the write path from 0.3 ms to 3.8 ms per lock
            "options": env_str("DB_OPTIONS", "-c plan_cache_mode=force_custom_plan"),
            "pool": {
                "min_size": env_int("DB_POOL_MIN", 2),
                "max_size": env_int("DB_POOL_MAX", 20),
                "timeout": env_int("DB_POOL_TIMEOUT", 10),
            },
        }
        if not env_bool("DB_POOL", True):
            del _db["OPTIONS"]["pool"]
            _db["CONN_MAX_AGE"] = env_int("DB_CONN_MAX_AGE", 60)
    DATABASES = {"default": _db}
    # the owner of the tables: `manage.py migrate` connects as it (oms/lifecycle/management/
    # commands/migrate.py) and grants the DATABASE_URL user, the application role, only what the
    # application needs (oms/lifecycle/roles.py): no UPDATE or DELETE of events, no TRIGGER
    DATABASE_OWNER_URL = env_str("DATABASE_OWNER_URL", "")
    if DATABASE_OWNER_URL:
        _owner = dj_database_url.parse(DATABASE_OWNER_URL)
        OMS_DATABASE_OWNER = {
            k: str(_owner.get(k) or "") for k in ("NAME", "USER", "PASSWORD", "HOST", "PORT")
        }
        if _owner["USER"] != _db["USER"]:
            OMS_DATABASE_APP_ROLE = _db["USER"]
            OMS_DATABASE_APP_PASSWORD = _db.get("PASSWORD") or ""
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env_str("SQLITE_PATH", str(VAR_DIR / "oms.sqlite3")),
            # IMMEDIATE takes the write lock at BEGIN, so concurrent writers queue instead of
            # failing with "database is locked" when a read transaction tries to upgrade.
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;",
            },
            # a file, not the in-memory default: tests with threads need real database locking
            # (pytest-xdist gives each worker its own file)
            "TEST": {"NAME": str(VAR_DIR / "test_oms.sqlite3")},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- redis: channel layer, celery ----------------------------------------------------------
REDIS_URL = env_str("REDIS_URL", "")
# The blotter's hub (blotter/fanout.py) is each server process's one member of the live feed's
# group: every publisher batch is one message on its channel. The layers' default capacity (100
# messages) would make group_send drop batches, silently, whenever a busy process's loop is half
# a second behind at 200 commands/s (the pages then resync by seq, docs/benchmarks.md §43); 10,000
# is most of a minute of feed, within the layers' 60 s message expiry.
BLOTTER_HUB_CAPACITY = {"blotter-hub.*": env_int("OMS_BLOTTER_HUB_CAPACITY", 10_000)}
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # a private prefix per deployment or test worker: groups ("blotter.events") never mix
            "CONFIG": {
                "hosts": [REDIS_URL],
                "prefix": env_str("OMS_CHANNEL_PREFIX", "asgi"),
                "channel_capacity": BLOTTER_HUB_CAPACITY,
            },
        }
    }
    CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
    CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            # every channel (the hub is its only user): channels 4.x's in-memory layer cannot
            # read a `channel_capacity` pattern (BaseChannelLayer leaves it uncompiled)
            "CONFIG": {"capacity": BLOTTER_HUB_CAPACITY["blotter-hub.*"]},
        }
    }
    CELERY_BROKER_URL = "memory://localhost/"
    CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
# one queue per deployment (or per test session: tests/test_celery_worker.py names its own)
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE", "celery")

# --- auth, i18n, static ----------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise serves from it (empty until collectstatic)
STATICFILES_DIRS = [
    BASE_DIR / "static",
    # the blotter's data grid, installed by `npm ci` from the committed package-lock.json
    ("vendor/tabulator", BASE_DIR / "node_modules/tabulator-tables/dist"),
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        # hashed names need `collectstatic` first: production (and the Dockerfile) runs it
        if env_bool("OMS_MANIFEST_STATIC", env_bool("OMS_PRODUCTION", False))
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = True

# --- security (manage.py check --deploy is clean with OMS_PRODUCTION=1) -----------------------
if env_bool("OMS_PRODUCTION", False):
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# --- API ---------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # DRF's token authentication, the token and roles cached for OMS_TOKEN_CACHE_SECONDS
        "oms.api.authentication.CachedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["oms.api.permissions.ReadOrDeskCommand"],
    "DEFAULT_PAGINATION_CLASS": "oms.api.pagination.Pagination",
    "PAGE_SIZE": 100,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "oms.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "COERCE_DECIMAL_TO_STRING": True,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "OMS command and query API",
    "DESCRIPTION": "Event-sourced order and execution state store (see ARCHITECTURE.md Part A).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "OrdStatusEnum": "oms.api.schema_base.ORD_STATUSES",
        "ExecStatusEnum": "oms.api.schema_base.EXEC_STATUSES",
        "QuoteRequestStatusEnum": "oms.api.schema_base.QUOTE_REQUEST_STATUSES",
        "QuoteStatusEnum": "oms.api.schema_base.QUOTE_STATUSES",
        "InstrumentKindEnum": "oms.api.schema_base.INSTRUMENT_KINDS",
        "OrderKindEnum": "oms.api.schema_base.ORDER_KINDS",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "oms.api.schema.split_command_paths",
    ],
}

# --- input limits ------------------------------------------------------------------------------
# A request body above this answers 413 payload_too_large (a command is a few hundred bytes).
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("OMS_MAX_REQUEST_BYTES", 256 * 1024)
# `attributes` (asset-class specific fields of an order): size as compact JSON, keys, nesting
OMS_ATTRIBUTES_MAX_BYTES = env_int("OMS_ATTRIBUTES_MAX_BYTES", 16 * 1024)
OMS_ATTRIBUTES_MAX_KEYS = env_int("OMS_ATTRIBUTES_MAX_KEYS", 64)
OMS_ATTRIBUTES_MAX_DEPTH = env_int("OMS_ATTRIBUTES_MAX_DEPTH", 4)
# identifiers (clOrdID, orderId, symbol, account, venue, execID, quoteReqID ...): a full-match
# regular expression; control, bidi and zero-width characters are refused whatever it says
OMS_IDENTIFIER_PATTERN = env_str("OMS_IDENTIFIER_PATTERN", r"[A-Za-z0-9!#$%()*+,./:;=?@\[\]^_{|}~-]+")

# --- OMS ---------------------------------------------------------------------------------------
# a command's first attempt takes the states it touches from the in-process cache and checks
# them in its write pipeline instead of locking them first (docs/architecture.md, "Optimistic
# writes"); 0 = always lock first, as before (benchmarks compare both)
OMS_OPTIMISTIC_WRITES = env_bool("OMS_OPTIMISTIC_WRITES", True)
# threads per server process running HTTP requests as WSGI in one hop (oms/serving.py); 0 = Django's
# ASGI handler (a thread and a hop per middleware per request). Keep processes x threads within
# the database's connections (DB_POOL_MAX per process).
OMS_HTTP_THREADS = env_int("OMS_HTTP_THREADS", 4)
# gc.freeze() once the server process has loaded (oms/serving.py: freeze_startup_heap)
OMS_GC_FREEZE = env_bool("OMS_GC_FREEZE", True)
# seconds a token (its user and roles) is answered from memory: a revocation takes that long
OMS_TOKEN_CACHE_SECONDS = env_int("OMS_TOKEN_CACHE_SECONDS", 5)
OMS_DEFAULT_DESK_VENUE = "MANUAL"
OMS_TRADING_DAY_END_UTC = env_str("OMS_TRADING_DAY_END_UTC", "21:00")
# the blotter's snapshot (blotter/snapshot.py): one build is shared by the pages that open while
# it is at most this many seconds old and this many events behind (they catch up from the feed)
OMS_BLOTTER_SNAPSHOT_MAX_AGE = float(env_int("OMS_BLOTTER_SNAPSHOT_MAX_AGE_MS", 2000)) / 1000
OMS_BLOTTER_SNAPSHOT_MAX_LAG = env_int("OMS_BLOTTER_SNAPSHOT_MAX_LAG", 5000)
# after a page's open, the process rebuilds the snapshot ahead of the next page for this long
# (every MAX_AGE / 2, when the seq moved): pages open in bursts; 0 turns it off
OMS_BLOTTER_SNAPSHOT_WARM = float(env_int("OMS_BLOTTER_SNAPSHOT_WARM_S", 120))
# 3: 0.23 s for 10,000 orders' 8.6 MB -> 0.85 MB; 6 took 0.56 s for 0.72 MB (docs/benchmarks.md)
OMS_BLOTTER_SNAPSHOT_GZIP_LEVEL = env_int("OMS_BLOTTER_SNAPSHOT_GZIP_LEVEL", 3)
# the live feed sends each socket at most one frame per this many ms (blotter/fanout.py): under
# load the publisher's batches share frames; 0 = one frame per batch the loop finds waiting
OMS_BLOTTER_FRAME_INTERVAL = env_int("OMS_BLOTTER_FRAME_MS", 20) / 1000
# blotter forms: an order or fill whose notional (qty x price or reference price) reaches this
# asks the desk to tick "confirm" first (enforced by the server, not only the page)
OMS_CONFIRM_NOTIONAL = env_str("OMS_CONFIRM_NOTIONAL", "1000000")
# trading controls (rules/): a book older than this is `stale`; a streamed one is then no reference
# price (its stream stopped), a set one (by hand, SIM, the demo) still prices (rules.books)
OMS_BOOK_STALE_SECONDS = env_int("OMS_BOOK_STALE_SECONDS", 300)
# a venue worker's heartbeat with the same feed health is recorded (an event) at most this often
OMS_VENUE_FEED_RECORD_SECONDS = env_int("OMS_VENUE_FEED_RECORD_SECONDS", 10)
# the preview's fee schedule: taker fee in basis points per venue ("*": any other venue)
OMS_FEE_SCHEDULE = {"SIM": "5", "MANUAL": "0", "*": "2"}

# --- event publication (oms/core/publishing/, docs/design/publication.md) -------------------------
# Redis Streams `<prefix>order-events`, `<prefix>execution-events`, ... (a prefix per test worker)
OMS_STREAM_REDIS_URL = env_str("OMS_STREAM_REDIS_URL", REDIS_URL)
OMS_STREAM_PREFIX = env_str("OMS_STREAM_PREFIX", "")
# entries kept per stream (approximate trim; ~1.3 kB each, so ~130 MB per stream); 0 = keep all
OMS_STREAM_MAXLEN = env_int("OMS_STREAM_MAXLEN", 100_000)
# the blotter sink sends to the group blotter/consumers.py joins (the core knows no group name)
_EVENT_SINKS: dict[str, dict[str, Any]] = {
    "streams": {"BACKEND": "oms.core.publishing.RedisStreamSink"},
    "blotter": {"BACKEND": "oms.core.publishing.ChannelLayerSink", "OPTIONS": {"group": "blotter.events"}},
}
_SINK_NAMES = env_list("OMS_EVENT_SINKS", ["streams", "blotter"] if OMS_STREAM_REDIS_URL else ["blotter"])
if set(_SINK_NAMES) - set(_EVENT_SINKS):
    raise ImproperlyConfigured(f"OMS_EVENT_SINKS={_SINK_NAMES}: the sinks are {sorted(_EVENT_SINKS)}")
OMS_EVENT_SINKS = {name: _EVENT_SINKS[name] for name in _SINK_NAMES}
OMS_PUBLISH_POLL_MS = env_int("OMS_PUBLISH_POLL_MS", 50)  # in-process commits also wake it at once
OMS_PUBLISH_GAP_TIMEOUT = 5.0  # seconds a recent hole in seq is waited for (none expected: see docs)
# publisher and the interval entries of CELERY_BEAT_SCHEDULE as asyncio tasks inside the ASGI
# server (oms/core/background.py): the embedded default has no worker or beat process
OMS_INPROCESS_WORKERS = env_bool("OMS_INPROCESS_WORKERS", not REDIS_URL)
CELERY_BEAT_SCHEDULE = {
    # a safety net beside `manage.py publish_events`: drains the durable sinks (overlap is safe)
    "publish-events": {
        "task": "oms.core.tasks.publish_events",
        "schedule": 10.0,
        "options": {"expires": 30},
    },
}

# --- lifecycle: expiry, purge, audit (oms/lifecycle, docs/design/lifecycle-audit.md) -------------
# days since an object's last update before a terminal one is purged; env: "orders=30,quotes=7"
OMS_RETENTION_DAYS = parse_retention(env_str("OMS_RETENTION_DAYS", ""))
OMS_ARCHIVE_DIR = Path(env_str("OMS_ARCHIVE_DIR", str(VAR_DIR / "archive")))
CELERY_BEAT_SCHEDULE["lifecycle-expire-due"] = {
    "task": "lifecycle.expire_due",
    "schedule": float(env_int("OMS_EXPIRY_INTERVAL_SECONDS", 60)),
    "options": {"expires": 120},
}
CELERY_BEAT_SCHEDULE["lifecycle-purge"] = {
    "task": "lifecycle.purge",
    "schedule": float(env_int("OMS_PURGE_INTERVAL_SECONDS", 24 * 3600)),
}

# --- venues: adapters, the SIM venue, sending on workers, stream ingestion (oms/venues) -----------
# the SIM venue's state in Redis (with REDIS_URL) under `<prefix>:<venue>:` (a prefix per test run)
OMS_SIM_PREFIX = env_str("OMS_SIM_PREFIX", "sim")
# without Redis: "sqlite" (a file of its own in OMS_VAR_DIR, shared by the server and manage.py
# commands) or "memory" (this process only)
OMS_SIM_STORE = env_str("OMS_SIM_STORE", "sqlite")
# SIM amends a replace in place; 0 makes it a venue without amend (like a ccxt exchange without
# editOrder), so the OMS replaces by cancel and new order (oms/venues/cancel_place.py)
OMS_SIM_AMEND = env_bool("OMS_SIM_AMEND", True)
# SIM's opening cash per account and currency, as JSON ({"ACC-1": {"USDT": "100000"}}): with it
# SIM reports balances (opening cash plus what its own fills realized); empty: it has none
OMS_SIM_CASH: dict[str, dict[str, str]] = json.loads(env_str("OMS_SIM_CASH", "{}"))
# which adapter serves a venue until the venue registry says otherwise (rules.venues)
OMS_VENUE_ADAPTERS = {"SIM": "SIM"}
# sending: retries of a transient venue error (backoff 0.5 s doubling, capped), then a dead letter
OMS_VENUE_SEND_MAX_RETRIES = env_int("OMS_VENUE_SEND_MAX_RETRIES", 5)
# an UnknownOutcome is re-queried by clOrdID this many times (backoff) before it is left to
# reconciliation, marked Unknown (and a dead letter the desk sees)
OMS_VENUE_UNKNOWN_CHECKS = env_int("OMS_VENUE_UNKNOWN_CHECKS", 3)
# ingestion: how long an out-of-order message waits for the missing seq before a REST resync
OMS_VENUE_GAP_HOLD_MS = env_int("OMS_VENUE_GAP_HOLD_MS", 500)
OMS_VENUE_RESYNC_SECONDS = env_int("OMS_VENUE_RESYNC_SECONDS", 30)  # periodic REST resync (safety)
# books from a venue's stream (ccxt): the latest book per symbol is written at most every this
# many ms (a book ticks many times a second; the collar and the ladder need far less), and this
# many levels a side are kept
OMS_VENUE_BOOK_WRITE_MS = env_int("OMS_VENUE_BOOK_WRITE_MS", 250)
OMS_VENUE_BOOK_DEPTH = env_int("OMS_VENUE_BOOK_DEPTH", 20)
# feed watchdog: Stale after this much silence, Down after the longer one
OMS_VENUE_STALE_SECONDS = env_int("OMS_VENUE_STALE_SECONDS", 10)
OMS_VENUE_DOWN_SECONDS = env_int("OMS_VENUE_DOWN_SECONDS", 60)
# session recording (oms/venues/recording): every process that drives the OMS (the ASGI server,
# each Celery worker process, `venue_stream`) writes what drives it (commands, venue answers,
# stream batches, the times and ids drawn) to `<dir>/session-<UTC time>-<pid>.jsonl`, for
# `manage.py replay_session`; empty: off
OMS_VENUE_RECORD_DIR = env_str("OMS_VENUE_RECORD_DIR", "")
# Redis broker: a message not acked within this is redelivered (late acks: a worker killed
# mid-task). Above the longest venue task (time limit 60 s) so no task runs twice concurrently.
# kombu sweeps for such messages every `unacked_restore_interval` x `unacked_restore_throttle`
# seconds (10 x 10 by default: a killed worker's send could wait 100 s past its timeout); one
# sweep is one ZRANGE, so sweep every OMS_CELERY_RESTORE_INTERVAL seconds, unthrottled
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("OMS_CELERY_VISIBILITY_TIMEOUT", 300),
    "unacked_restore_interval": env_int("OMS_CELERY_RESTORE_INTERVAL", 10),
    "unacked_restore_throttle": 1,
}
if OMS_INPROCESS_WORKERS:
    # the embedded default has no `manage.py venue_stream` process: the stream is read in-process
    CELERY_BEAT_SCHEDULE["venues-stream"] = {"task": "venues.ingest_all", "schedule": 0.2}
# a venue whose consumer process stopped reporting goes Stale, then Down (celery beat)
CELERY_BEAT_SCHEDULE["venues-watchdog"] = {
    "task": "venues.watchdog",
    "schedule": 5.0,
    "options": {"expires": 10},
}

# --- reconciliation (oms/reconciliation): the venue's orders, fills, positions against the OMS ----
# every adapter venue on this schedule (seconds; 0: never on a schedule, only on demand and after
# a stream resync); in-process on the embedded default, celery beat with Redis
OMS_RECONCILE_INTERVAL = env_int("OMS_RECONCILE_INTERVAL", 60)
# a stream reconnect or a gap resync is followed by a reconciliation of that venue
OMS_RECONCILE_ON_RESYNC = env_bool("OMS_RECONCILE_ON_RESYNC", True)
# the account of an adopted venue order whose account the venue does not say (an order report
# carries none; a fill usually does)
OMS_RECONCILE_ADOPT_ACCOUNT = env_str("OMS_RECONCILE_ADOPT_ACCOUNT", "UNALLOCATED")
# discrepancies open on more than this many symbols of one venue are systemic: SAFE mode on the
# whole venue (0: never)
OMS_RECONCILE_VENUE_SAFE_SYMBOLS = env_int("OMS_RECONCILE_VENUE_SAFE_SYMBOLS", 3)
# the OMS's working orders are read and compared this many at a time (keyset by orderId), so a
# venue with tens of thousands of open orders is never held in memory whole (0: all at once)
OMS_RECONCILE_CHUNK = env_int("OMS_RECONCILE_CHUNK", 1000)
# balances (adapters that `has` balances): the cash the OMS's ledger starts from, per venue,
# account ("*": a venue whose balances name no account, ccxt's) and currency, as JSON, e.g.
# {"SIM": {"ACC-1": {"USDT": "100000"}}}; realized P&L (and, for spot, the traded notional and
# base quantity) is added from the positions. A difference above the tolerance (absolute, per
# currency) is a `position_mismatch` with subject balance|ACCOUNT|CURRENCY
OMS_RECONCILE_OPENING_CASH: dict[str, dict[str, dict[str, str]]] = json.loads(
    env_str("OMS_RECONCILE_OPENING_CASH", "{}")
)
OMS_RECONCILE_BALANCE_TOLERANCE = env_str("OMS_RECONCILE_BALANCE_TOLERANCE", "0.01")
if OMS_RECONCILE_INTERVAL > 0:
    CELERY_BEAT_SCHEDULE["reconciliation-all"] = {
        "task": "reconciliation.reconcile_all",
        "schedule": float(OMS_RECONCILE_INTERVAL),
        "options": {"expires": OMS_RECONCILE_INTERVAL},
    }

# --- rules: the throttles' counters (rules/counters.py) ------------------------------------------
CELERY_BEAT_SCHEDULE["rules-purge-idle-throttles"] = {
    "task": "rules.purge_idle_throttles",
    "schedule": 600.0,
    "options": {"expires": 600},
}

# --- operations: /metrics, /healthz, /readyz (oms/observability, README "Operations") -------------
# /metrics answers staff and superusers (session or API token), or `Authorization: Bearer <this>`
# for a Prometheus server; empty: no bearer secret. PROMETHEUS_MULTIPROC_DIR (read by
# prometheus_client itself) switches to its multi-process mode.
OMS_METRICS_TOKEN = env_str("OMS_METRICS_TOKEN", "")
# processes without HTTP (publish_events, the Celery worker) serve their metrics on this port
# (0: not at all), unauthenticated: bind to an address only Prometheus reaches
OMS_METRICS_PORT = env_int("OMS_METRICS_PORT", 0)
OMS_METRICS_ADDR = env_str("OMS_METRICS_ADDR", "127.0.0.1")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
