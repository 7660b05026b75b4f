"""Run a command in another OMS process against the test's PostgreSQL database: what a second web
worker or a venue worker does behind this process's caches (its reference snapshot, rule set,
state and venue-adapter caches). The test must commit first (transactional) for it to see rows."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def dispatch_elsewhere(topic: str, body: dict[str, Any], actor: str) -> None:
    """`dispatch(topic, body, actor=actor)` in a fresh Python process; fails unless it is a 200/201."""
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    url = f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    script = (
        "import django; django.setup()\n"
        "from oms.core.dispatch import dispatch\n"
        f"out = dispatch({topic!r}, {body!r}, actor={actor!r})\n"
        "assert out.status_code in (200, 201), out.body\n"
    )
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "oms.settings"}
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True, timeout=120)
