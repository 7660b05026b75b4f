"""Browser tests: a live ASGI server (daphne) on the test database, driven by Playwright + Chromium.

Shared by the blotter tests (test_blotter_live.py) and the desk forms tests. What they get:

* `oms_server` - daphne in a subprocess serving `oms.asgi:application` on a free loopback port,
  against the pytest-django test database (SQLite file or PostgreSQL). `oms_server.url`,
  `oms_server.ws_url`, `oms_server.stop()` / `.start()` (same port: the reconnect test), and
  `oms_server.log()` for a failing test's message. The in-process background runner (event
  publisher -> channel layer) is forced on inside daphne on both backends, so live updates work
  without a separate `publish_events` process; under REDIS_URL the channel layer gets a private
  prefix per test (OMS_CHANNEL_PREFIX) so parallel workers never see each other's events.
* `browser` - one headless Debian Chromium per test session (skipped with a reason if
  /usr/bin/chromium is missing). `new_page(user)` opens a fresh browser context already logged in
  as `user` (a real session cookie); the personas `desk_page` and `viewer_page` are built on it.
* `desk_user`/`viewer_user` come from tests/conftest.py; here they live in a *transactional*
  database (the server is another process: it sees only committed rows).
* `trader` - `tests.lifecycle.Desk` dispatching commands in the test process (the one write path,
  committed at once, then published by the server's runner).
* `screenshot(page, name)` - $OMS_ARTIFACTS_DIR/screenshots/<name>.png (default var/artifacts);
  with OMS_UPDATE_SCREENSHOTS=1 also docs/screenshots/<name>.png (the README's pictures).

Every test here is marked `browser` (pytest -m "not browser" leaves them out).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
BROWSER_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-dev-shm-usage"]


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)
            if not os.path.exists(CHROMIUM):
                item.add_marker(pytest.mark.skip(reason=f"{CHROMIUM} is missing (apt-get install chromium)"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _database_env() -> dict[str, str]:
    """DATABASE_URL / SQLITE_PATH pointing the server at the test database this process uses."""
    from django.db import connection

    sd = connection.settings_dict
    if sd["ENGINE"] == "django.db.backends.sqlite3":
        return {"SQLITE_PATH": str(sd["NAME"]), "DATABASE_URL": ""}
    user = sd.get("USER") or ""
    password = f":{sd['PASSWORD']}" if sd.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    port = f":{sd['PORT']}" if sd.get("PORT") else ""
    return {"DATABASE_URL": f"postgres://{auth}{sd.get('HOST') or '127.0.0.1'}{port}/{sd['NAME']}"}


class LiveServer:
    """daphne serving the project in a subprocess; restartable on the same port."""

    def __init__(self, env: dict[str, str], port: int | None = None):
        self.port = port or free_port()
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self._log = tempfile.NamedTemporaryFile(prefix="daphne-", suffix=".log", delete=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        cmd = [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(self.port),
            "oms.asgi:application",
        ]
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"daphne exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url + "/accounts/login/", timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"daphne did not answer within {timeout}s:\n{self.log()}")

    def stop(self, kill: bool = False) -> None:
        """Stop the server (SIGKILL with kill=True: a crash, no goodbye to the websockets)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def log(self) -> str:
        self._log.flush()
        return Path(self._log.name).read_text(errors="replace")[-6000:]

    def close(self) -> None:
        self.stop()
        self._log.close()
        os.unlink(self._log.name)


def server_env(**extra: str) -> dict[str, str]:
    from django.conf import settings

    env = dict(os.environ)
    env.update(_database_env())
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "oms.settings",
            "OMS_VAR_DIR": str(settings.VAR_DIR),
            "OMS_PRODUCTION": "0",
            "DEBUG": "0",
            # the event publisher runs inside daphne on both backends (no publish_events process)
            "OMS_INPROCESS_WORKERS": "1",
            "OMS_EVENT_SINKS": "blotter",  # the channel layer only: no Redis streams from tests
            "CELERY_TASK_ALWAYS_EAGER": "1",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if settings.REDIS_URL:
        tag = f"b{os.getpid()}x{free_port()}"
        env["OMS_CHANNEL_PREFIX"] = f"oms-{tag}"
        env["OMS_STREAM_PREFIX"] = f"{tag}:"
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    env.update(extra)
    return env


@pytest.fixture
def oms_server(transactional_db: Any) -> Iterator[LiveServer]:
    """A fresh daphne per test (its publisher's cursor must not outlive the test's data)."""
    server = LiveServer(server_env())
    server.start()
    try:
        yield server
    finally:
        server.close()


# --- the browser ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium per test module.

    Module scope, not session: Playwright's sync API keeps an event loop running in the test
    thread while it is open, which would break every later test that uses async_to_sync. While
    it runs, Django's ORM must be told the thread is fine (the loop is Playwright's, not ours).
    """
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright

    # the machine running the suite is shared (two cores; browser and worker tests in parallel):
    # an assertion on the page waits as long as a page action does, not Playwright's 5 s default
    expect.set_options(timeout=10_000)
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as pw:
            chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS)
            try:
                yield chromium
            finally:
                chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def session_cookie(user: Any) -> dict[str, Any]:
    """A real session for `user` in the test database, as a cookie for the live server."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    return {
        "name": settings.SESSION_COOKIE_NAME,
        "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
        "domain": "127.0.0.1",
        "path": "/",
        "httpOnly": True,
    }


@pytest.fixture
def new_page(browser: Any, oms_server: LiveServer) -> Iterator[Callable[..., Any]]:
    """new_page(user=None, path="/") -> a Playwright page in its own context (own cookies).

    With a user the context holds that user's session cookie; the page has opened `path`.
    Console errors and uncaught page errors are collected on `page.errors`.
    """
    contexts: list[Any] = []

    def open_page(user: Any = None, path: str | None = "/", **context_kw: Any) -> Any:
        context = browser.new_context(
            base_url=oms_server.url,
            viewport={"width": 1600, "height": 900},
            accept_downloads=True,
            **context_kw,
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        if user is not None:
            cookie = session_cookie(user)
            context.add_cookies([{"name": cookie["name"], "value": cookie["value"], "url": oms_server.url}])
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))
        page.on("console", lambda msg: msg.type == "error" and page.errors.append(msg.text))
        if path is not None:
            page.goto(path)
        return page

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def desk_page(new_page: Callable[..., Any], desk_user: Any) -> Any:
    """The blotter open in a browser, logged in as a desk trader."""
    return new_page(desk_user)


@pytest.fixture
def viewer_page(new_page: Callable[..., Any], viewer_user: Any) -> Any:
    """The blotter open in a browser, logged in as a viewer (reads everything, acts on nothing)."""
    return new_page(viewer_user)


@pytest.fixture
def trader(transactional_db: Any) -> Any:
    """Commands through `dispatch` in the test process, committed at once (tests/lifecycle.Desk)."""
    from tests.lifecycle import Desk

    return Desk("dispatch")


# --- screenshots -----------------------------------------------------------------------------------
def save_screenshot(page: Any, name: str, **kw: Any) -> Path:
    """$OMS_ARTIFACTS_DIR/screenshots/<name>.png (CI keeps them; default var/artifacts), and
    docs/screenshots/<name>.png when OMS_UPDATE_SCREENSHOTS=1: a test run never dirties the docs."""
    from django.conf import settings

    artifacts = Path(os.environ.get("OMS_ARTIFACTS_DIR") or Path(settings.VAR_DIR) / "artifacts")
    target = artifacts / "screenshots"
    target.mkdir(parents=True, exist_ok=True)
    path = target / f"{name}.png"
    page.screenshot(path=str(path), **kw)
    if os.environ.get("OMS_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, SCREENSHOTS / path.name)
    return path


@pytest.fixture
def screenshot() -> Callable[..., Path]:
    return save_screenshot
