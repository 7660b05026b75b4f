"""Shared fixtures: personas (desk trader, viewer, admin), API clients, and a command helper."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.core.management.base import CommandError
from django.db import OperationalError
from django.db.backends.signals import connection_created
from django.test import TransactionTestCase
from rest_framework.test import APIClient

from oms.core.dispatch import CommandResult, dispatch
from oms.lifecycle.audit import allow_truncate
from rules.venues import forget_adapters
from tests.lifecycle import Desk
from tests.lifecycle import uid as lifecycle_uid

# PostgreSQL: the flush between transactional tests TRUNCATEs the audited event tables
# (oms/lifecycle/audit.py); UPDATE and DELETE stay refused
connection_created.connect(allow_truncate, dispatch_uid="tests-allow-truncate")


def _a_deadlock(exc: BaseException | None) -> bool:
    while exc is not None:
        if "deadlock detected" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _flush_retrying_a_deadlock(flush: Callable[..., Any]) -> Callable[..., Any]:
    """The flush after a transactional test, tried again when PostgreSQL picks it as a deadlock's
    victim: the module-scoped worker and stream processes of the venue tests (they share the test
    database) may be writing while the flush's TRUNCATE takes its locks table by table. The flush
    then runs again, so the next test still starts from an empty database."""

    @functools.wraps(flush)
    def teardown(self: TransactionTestCase) -> None:
        for attempt in range(4):
            try:
                return flush(self)
            except (OperationalError, CommandError) as exc:  # flush wraps the database's error
                if not _a_deadlock(exc) or attempt == 3:
                    raise
                time.sleep(0.2 * (attempt + 1))

    return teardown


TransactionTestCase._fixture_teardown = _flush_retrying_a_deadlock(  # type: ignore[method-assign]  # patched for the test run
    TransactionTestCase._fixture_teardown
)


def uid(prefix: str = "T") -> str:
    """A unique id for this test run (clOrdIDs, execIDs): one counter with tests/lifecycle.py's."""
    return lifecycle_uid(prefix)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    """Personas are created per test; the production hasher would make that the slowest part."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _no_snapshot_warming(settings: Any) -> None:
    """The blotter snapshot's warming thread would read the test database beside the test's own
    transaction after a page's open; tests/test_blotter_snapshot.py turns it on where it is tested."""
    settings.OMS_BLOTTER_SNAPSHOT_WARM = 0


@pytest.fixture(autouse=True)
def _no_venue_adapters_cached() -> None:
    """Each test starts without the venue-adapter cache of rules.venues: a database an earlier test
    rolled back would cost a retry (tests that count retries would see it), never a wrong answer."""
    forget_adapters()


@pytest.fixture(autouse=True)
def _celery_in_process(request: pytest.FixtureRequest) -> Any:
    """Tasks run in-process unless a test asks for the real worker (tests/test_celery_worker.py).

    With REDIS_URL set, Celery would otherwise queue tasks for a worker that is not running.
    """
    if "celery_worker" in request.fixturenames:
        yield
        return
    from oms.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        yield
    finally:
        app.conf.task_always_eager = previous


def _user(username: str, *groups: str, superuser: bool = False) -> User:
    user = User.objects.create_user(
        username=username, password="pw-" + username, is_superuser=superuser, is_staff=superuser
    )
    for name in groups:
        user.groups.add(Group.objects.get_or_create(name=name)[0])
    return user


@pytest.fixture
def desk_user(db: Any) -> User:
    return _user("trader", "desk")


@pytest.fixture
def viewer_user(db: Any) -> User:
    return _user("watcher", "viewer")


@pytest.fixture
def admin_user(db: Any) -> User:
    return _user("boss", superuser=True)


def _client(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.fixture
def desk(desk_user: User) -> APIClient:
    """An API client logged in as a desk trader (may send commands)."""
    return _client(desk_user)


@pytest.fixture
def boss(admin_user: User) -> APIClient:
    """An API client logged in as a superuser (instruments, rules, limits: superuser only)."""
    return _client(admin_user)


@pytest.fixture
def viewer(viewer_user: User) -> APIClient:
    return _client(viewer_user)


@pytest.fixture
def anon(db: Any) -> APIClient:
    return APIClient()


@pytest.fixture
def run(db: Any) -> Callable[..., CommandResult]:
    """Send a command in-process: run("orders", {"commandType": ...}) -> CommandResult."""

    def send(topic: str, body: dict[str, Any], actor: str = "tester", **kw: Any) -> CommandResult:
        return dispatch(topic, body, actor=actor, **kw)

    return send


@pytest.fixture
def post(desk: APIClient) -> Callable[..., Any]:
    """POST a command over HTTP as the desk: post("orders", {...}) -> (status, json)."""

    def send(topic: str, body: Any, client: APIClient | None = None, **headers: str) -> tuple[int, Any]:
        response = (client or desk).post(f"/api/commands/{topic}", body, format="json", headers=headers)
        return response.status_code, response.json()

    return send


@pytest.fixture
def trader(db: Any) -> Desk:
    """The desk driving the lifecycle in-process (tests/lifecycle.py)."""
    return Desk("dispatch")


@pytest.fixture(params=["dispatch", "http"])
def trader_any(request: pytest.FixtureRequest, db: Any) -> Desk:
    """The same desk, once in-process and once over HTTP."""
    if request.param == "http":
        return Desk("http", request.getfixturevalue("desk"))
    return Desk("dispatch")
