"""Authentication, permissions and the error contract at the edges of the API: real DRF tokens,
session login with CSRF, JSON 404s for unknown /api/ URLs, and a fuzz of malformed command bodies
that must never answer 500."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.conftest import uid
from tests.test_api_commands import assert_error, child, create, event_count, order_body, send

# --- 401 / 403 ----------------------------------------------------------------------------------


def test_no_credentials_is_401_for_commands_and_queries(anon: APIClient, desk: APIClient) -> None:
    before = event_count(desk)
    for response in (
        anon.post("/api/commands/orders", order_body(), format="json"),
        anon.get("/api/queries/orders"),
        anon.get("/api/queries/events"),
    ):
        assert_error(response.status_code, response.json(), 401, "not_authenticated")
        assert response["WWW-Authenticate"] == "Token"  # token auth comes first: 401, not 403
    assert event_count(desk) == before


def test_viewer_may_not_send_commands(viewer: APIClient, desk: APIClient) -> None:
    before = event_count(desk)
    status, js = send(viewer, "orders", order_body())
    assert_error(status, js, 403, "permission_denied")
    assert event_count(desk) == before


def test_user_without_a_role_may_not_read(db: Any) -> None:
    client = APIClient()
    client.force_authenticate(User.objects.create_user("nobody", password="pw"))
    for path in ("/api/queries/orders", "/api/queries/executions", "/api/queries/events"):
        response = client.get(path)
        assert_error(response.status_code, response.json(), 403, "permission_denied")


def test_superuser_may_do_everything(admin_user: User) -> None:
    client = APIClient()
    client.force_authenticate(admin_user)
    status, js = send(client, "orders", order_body())
    assert status == 201 and js["events"][0]["actor"] == "boss"
    assert client.get("/api/queries/orders").json()["count"] == 1


def test_drf_token_authentication(desk_user: User) -> None:
    token = Token.objects.create(user=desk_user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    status, js = send(client, "orders", order_body())
    assert status == 201 and js["events"][0]["actor"] == "trader"
    assert client.get("/api/queries/orders").json()["count"] == 1
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-key")
    response = client.get("/api/queries/orders")
    assert_error(response.status_code, response.json(), 401, "authentication_failed")


def test_session_login_requires_csrf_for_commands(desk_user: User) -> None:
    client = APIClient(enforce_csrf_checks=True)
    assert client.login(username="trader", password="pw-trader")
    assert client.get("/api/queries/orders").status_code == 200  # reads need no CSRF token
    before = client.get("/api/queries/events").json()["count"]
    response = client.post("/api/commands/orders", order_body(), format="json")
    assert_error(response.status_code, response.json(), 403, "permission_denied")
    assert "CSRF" in response.json()["error"]["message"]
    assert client.get("/api/queries/events").json()["count"] == before

    browser = Client(enforce_csrf_checks=True)
    assert browser.get("/accounts/login/").status_code == 200  # sets the csrftoken cookie
    token = browser.cookies["csrftoken"].value
    response = browser.post(
        "/accounts/login/", {"username": "trader", "password": "pw-trader", "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302
    token = browser.cookies["csrftoken"].value  # rotated on login
    response = browser.post(
        "/api/commands/orders",
        json.dumps(order_body()),
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 201, response.content
    assert response.json()["events"][0]["actor"] == "trader"


# --- URLs and methods ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/nope",
        "/api/queries/nope",
        "/api/queries/orders/",
        "/api/commands/",
        "/api/queries/orders/a/b/c",
        "/api/queries/orders/a%00b",
        "/api/queries/executions/a%00b/events",
    ],
)
def test_unknown_api_url_is_json_404(desk: APIClient, path: str) -> None:
    response = desk.get(path)
    assert response["Content-Type"].startswith("application/json")
    assert_error(response.status_code, response.json(), 404, "not_found")


def test_unknown_non_api_url_is_still_html(desk: APIClient) -> None:
    response = desk.get("/no-such-page")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")


def test_wrong_method_is_405(desk: APIClient) -> None:
    for response in (
        desk.delete("/api/queries/orders"),
        desk.get("/api/commands/orders"),
        desk.put("/api/commands/orders", {}, format="json"),
    ):
        assert_error(response.status_code, response.json(), 405, "method_not_allowed")


def test_a_bug_answers_500_in_the_error_shape(viewer: APIClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: Any, object_id: str) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr("oms.core.readside.ReadSide.get", broken)
    response = viewer.get("/api/queries/orders/O1")
    assert_error(response.status_code, response.json(), 500, "internal_error")
    assert "boom" not in response.json()["error"]["message"]  # no internals leak


def test_header_values_that_cannot_be_stored_are_400(desk: APIClient) -> None:
    before = event_count(desk)
    for headers, field in (
        ({"Idempotency-Key": "k\x00"}, "Idempotency-Key"),
        ({"X-Correlation-ID": "c\x00"}, "X-Correlation-ID"),
    ):
        status, js = send(desk, "orders", order_body(), **headers)
        assert_error(status, js, 400, "validation_failed", field)
    assert event_count(desk) == before


# --- fuzz: malformed command bodies never answer 500 --------------------------------------------

TIMES = st.sampled_from(
    [
        "2026-01-31T14:30:00Z",
        "2026-01-31",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "2026-02-30T00:00:00",
        "2026-01-31T25:00:00Z",
        "tomorrow",
        "1700000000",
    ]
)
DECIMALS = st.sampled_from(
    [
        "0",
        "-0",
        "-1",
        "1e400",
        "-1e-400",
        "1E+30",
        "1E+17",
        "99999999999999999",
        "0.0000000001",
        "0.00000000001",
        "NaN",
        "Infinity",
        "1,5",
        "١٢",
        "0x10",
        " 7 ",
        "100.25",
        "1_000",
    ]
)
STRINGS = st.sampled_from(
    ["", " ", "x" * 70, "x" * 1001, "\x00", "a\x00b", "Buy", "Limit", "GTD", "MANUAL", "Desk"]
)
JUNK = st.one_of(
    STRINGS,
    DECIMALS,
    TIMES,
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=80),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.one_of(st.text(max_size=5), st.integers()), max_size=3),
)
BY_KIND = {"Time": TIMES, "Qty": DECIMALS, "Px": DECIMALS, "price": DECIMALS, "Id": STRINGS, "ID": STRINGS}

_MISSING = object()


def _valid(command: str, parent_id: str, market_id: str) -> dict[str, Any]:
    if command == "CreateOrderCommand":
        return {
            "clOrdID": uid("F"),
            "symbol": "ACME",
            "side": "Buy",
            "orderQty": "5",
            "ordType": "Limit",
            "price": "100",
            "timeInForce": "Day",
            "account": "ACC1",
            "handling": "Desk",
            "text": "fuzz",
        }
    if command == "ExecuteOrderCommand":
        return {
            "orderId": market_id,
            "execID": uid("FX"),
            "lastQty": "1",
            "lastPx": "100",
            "venue": "MANUAL",
            "transactTime": "2026-01-31T14:30:00Z",
            "text": "fuzz",
        }
    return {
        "orderId": market_id,
        "clOrdID": uid("FR"),
        "orderQty": "900",
        "price": "99",
        "expectedVersion": 2,
    }


EXTRA_FIELDS = {
    "CreateOrderCommand": ["stopPx", "expireTime", "venue", "parentId", "attributes", "expectedVersion"],
    "ExecuteOrderCommand": [],
    "ReplaceOrderCommand": ["stopPx", "timeInForce", "expireTime"],
}


@st.composite
def _bodies(draw: Any, command: str, parent_id: str, market_id: str) -> dict[str, Any]:
    """A valid body with one to three fields dropped or replaced by junk of any JSON type."""
    body = _valid(command, parent_id, market_id)
    names = draw(
        st.lists(st.sampled_from(sorted(body) + EXTRA_FIELDS[command]), min_size=1, max_size=3, unique=True)
    )
    ids = st.sampled_from([parent_id, market_id, "nope"])
    for name in names:
        kind = next((st_ for suffix, st_ in BY_KIND.items() if name.endswith(suffix)), JUNK)
        value = draw(st.one_of(st.just(_MISSING), ids if name.endswith("Id") else kind, kind, JUNK))
        if value is _MISSING:
            body.pop(name, None)
        else:
            body[name] = value
    return {"commandType": command, **body}


@pytest.mark.parametrize(
    ("command", "topic"),
    [
        ("CreateOrderCommand", "orders"),
        ("ExecuteOrderCommand", "executions"),
        ("ReplaceOrderCommand", "orders"),
    ],
)
def test_fuzzed_commands_never_answer_500(desk: APIClient, command: str, topic: str) -> None:
    parent = create(desk, orderQty="1000000", price="100")
    market = child(desk, parent["orderId"], qty="1000")
    seen: set[int] = set()

    @settings(
        max_examples=80,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(body=_bodies(command, parent["orderId"], market["orderId"]))
    def check(body: dict[str, Any]) -> None:
        before = event_count(desk)
        response = desk.post(f"/api/commands/{topic}", data=json.dumps(body), content_type="application/json")
        seen.add(response.status_code)
        assert response.status_code < 500, (body, response.content[:300])
        js = response.json()
        if response.status_code >= 400:
            assert_error(response.status_code, js, response.status_code, js["error"]["code"])
            assert event_count(desk) == before, body
        else:
            assert js["events"] or js["duplicate"], js

    check()
    assert 400 in seen and seen & {200, 201}, seen  # the fuzz reached the validation and got past it
