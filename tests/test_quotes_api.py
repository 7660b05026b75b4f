"""RFQ over HTTP: the command endpoints `quote-requests` and `quotes`, the query endpoints with their
filters, pagination and events, the global feed, permissions and the OpenAPI description."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from rest_framework.test import APIClient

from oms.quotes.models import Quote, QuoteEvent, QuoteRequest, QuoteRequestEvent
from tests.lifecycle import quote_body, request_body
from tests.test_quotes import Clock, clock  # noqa: F401  (clock is a fixture)

pytestmark = pytest.mark.django_db


def send(client: APIClient, topic: str, body: Any, **headers: str) -> tuple[int, Any]:
    response = client.post(f"/api/commands/{topic}", body, format="json", headers=headers or None)
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    return response.status_code, response.json()


def ok(client: APIClient, topic: str, body: Any) -> dict[str, Any]:
    status, js = send(client, topic, body)
    assert status in (200, 201), (status, js)
    return js


def get(client: APIClient, path: str, **params: Any) -> dict[str, Any]:
    response = client.get(path, params)
    assert response.status_code == 200, (response.status_code, response.content[:300])
    return response.json()  # type: ignore[no-any-return]  # the JSON body is Any


def error(response_or_pair: Any) -> tuple[int, str, dict[str, Any]]:
    if isinstance(response_or_pair, tuple):
        status, js = response_or_pair
    else:
        status, js = response_or_pair.status_code, response_or_pair.json()
    return status, js["error"]["code"], js["error"]["fields"]


def counts() -> tuple[int, ...]:
    return (
        QuoteRequest.objects.count(),
        Quote.objects.count(),
        QuoteRequestEvent.objects.count(),
        QuoteEvent.objects.count(),
    )


@pytest.fixture
def rfq_book(desk: APIClient, clock: Clock) -> dict[str, Any]:  # noqa: F811
    """Four requests in various states with quotes; returns their documents by name."""
    book: dict[str, Any] = {}
    book["btc_buy"] = ok(desk, "quote-requests", request_body(symbol="BTC-PERP", side="Buy", account="A1"))[
        "quoteRequest"
    ]
    clock.advance(seconds=1)
    book["eth_sell"] = ok(
        desk, "quote-requests", request_body(symbol="ETH-PERP", side="Sell", account="A2", orderQty="30")
    )["quoteRequest"]
    clock.advance(seconds=1)
    book["sol_buy"] = ok(
        desk,
        "quote-requests",
        request_body(symbol="SOL-PERP", side="Buy", account="A1", validUntilTime=clock.later(hours=1)),
    )["quoteRequest"]
    clock.advance(seconds=1)
    book["btc_canceled"] = ok(
        desk, "quote-requests", request_body(symbol="BTC-PERP", side="SellShort", account="A3")
    )["quoteRequest"]
    clock.advance(seconds=1)
    book["q_btc_1"] = ok(desk, "quotes", quote_body(book["btc_buy"], offerPx="101"))["quote"]
    clock.advance(seconds=1)
    book["q_btc_2"] = ok(desk, "quotes", quote_body(book["btc_buy"], offerPx="100.5"))["quote"]
    clock.advance(seconds=1)
    book["q_eth"] = ok(
        desk, "quotes", quote_body(book["eth_sell"], bidPx="2000", bidSize="30", offerPx="2001")
    )["quote"]
    clock.advance(seconds=1)
    book["accepted"] = ok(
        desk, "quotes", {"commandType": "AcceptQuoteCommand", "quoteId": book["q_btc_2"]["quoteId"]}
    )
    clock.advance(seconds=1)
    ok(
        desk,
        "quote-requests",
        {
            "commandType": "CancelQuoteRequestCommand",
            "quoteRequestId": book["btc_canceled"]["quoteRequestId"],
        },
    )
    book["checkpoint"] = clock.later(seconds=0)
    clock.advance(seconds=1)
    ok(desk, "quotes", {"commandType": "RejectQuoteCommand", "quoteId": book["q_eth"]["quoteId"]})
    return book


# --- commands --------------------------------------------------------------------------------------


def test_commands_over_http(desk: APIClient) -> None:
    status, js = send(desk, "quote-requests", request_body(quoteReqID="H-1", orderQty="4"))
    assert status == 201 and js["duplicate"] is False
    request = js["quoteRequest"]
    assert [e["type"] for e in js["events"]] == ["QuoteRequestCreated"]
    assert js["events"][0]["actor"] == "trader"  # the acting user
    status, js = send(
        desk, "quotes", quote_body(request, offerPx="10", offerSize="2", bidPx=None, bidSize=None)
    )
    assert status == 201 and js["quoteRequest"]["status"] == "Quoted"
    status, js = send(
        desk, "quotes", {"commandType": "AcceptQuoteCommand", "quoteId": js["quote"]["quoteId"]}
    )
    assert status == 200
    assert (js["order"]["price"], js["order"]["orderQty"], js["quote"]["status"]) == ("10", "2", "Accepted")
    assert js["quoteRequest"]["orderId"] == js["order"]["orderId"]
    detail = get(desk, f"/api/queries/orders/{js['order']['orderId']}")
    assert detail["attributes"]["quoteRequestId"] == request["quoteRequestId"]


@pytest.mark.parametrize(
    ("topic", "body", "expected"),
    [
        (
            "quote-requests",
            {"commandType": "CreateQuoteRequestCommand", "orderQty": "0"},
            (400, "validation_failed"),
        ),
        (
            "quote-requests",
            {"commandType": "CancelQuoteRequestCommand", "quoteRequestId": "R-none"},
            (404, "not_found"),
        ),
        ("quotes", {"commandType": "AcceptQuoteCommand", "quoteId": "Q-none"}, (404, "not_found")),
        ("quotes", {"commandType": "AcceptQuoteCommand"}, (400, "validation_failed")),
        ("quotes", {"commandType": "MakeMoneyCommand"}, (400, "validation_failed")),
        ("quotes", [1, 2], (400, "validation_failed")),
    ],
)
def test_command_errors_follow_the_contract(
    desk: APIClient, topic: str, body: Any, expected: tuple[int, str]
) -> None:
    before = counts()
    status, code, fields = error(send(desk, topic, body))
    assert (status, code) == expected
    assert fields
    assert counts() == before


def test_invalid_transition_and_duplicate_over_http(desk: APIClient) -> None:
    body = request_body()
    ok(desk, "quote-requests", body)
    status, js = send(desk, "quote-requests", body)
    assert (status, js["duplicate"], js["events"]) == (200, True, [])
    status, code, fields = error(send(desk, "quote-requests", {**body, "symbol": "OTHER"}))
    assert (status, code, list(fields)) == (409, "duplicate_cl_ord_id", ["quoteReqID"])
    request_id = js["quoteRequest"]["quoteRequestId"]
    ok(
        desk,
        "quote-requests",
        {"commandType": "RejectQuoteRequestCommand", "quoteRequestId": request_id, "text": "no"},
    )
    status, js = send(
        desk, "quote-requests", {"commandType": "CancelQuoteRequestCommand", "quoteRequestId": request_id}
    )
    assert status == 409 and js["error"]["code"] == "invalid_transition"
    assert (js["error"]["current"], js["error"]["trigger"]) == ("Rejected", "CancelQuoteRequest")


def test_idempotency_key_on_quote_commands(desk: APIClient) -> None:
    body = request_body()
    first = send(desk, "quote-requests", body, **{"Idempotency-Key": "rfq-1"})
    before = counts()
    assert send(desk, "quote-requests", body, **{"Idempotency-Key": "rfq-1"}) == first
    assert counts() == before
    status, code, _ = error(send(desk, "quote-requests", request_body(), **{"Idempotency-Key": "rfq-1"}))
    assert (status, code) == (422, "idempotency_key_reused")


def test_permissions(desk: APIClient, viewer: APIClient, anon: APIClient) -> None:
    request = ok(desk, "quote-requests", request_body())["quoteRequest"]
    before = counts()
    assert send(viewer, "quote-requests", request_body())[0] == 403
    assert send(viewer, "quotes", quote_body(request))[0] == 403
    assert send(anon, "quotes", quote_body(request))[0] in (401, 403)
    assert counts() == before
    for path in (
        "/api/queries/quote-requests",
        f"/api/queries/quote-requests/{request['quoteRequestId']}",
        f"/api/queries/quote-requests/{request['quoteRequestId']}/events",
        "/api/queries/quotes",
    ):
        assert viewer.get(path).status_code == 200, path
        assert anon.get(path).status_code in (401, 403), path


# --- queries ---------------------------------------------------------------------------------------


def ids(page: dict[str, Any], key: str) -> list[str]:
    return [d[key] for d in page["results"]]


def test_quote_request_list_and_filters(viewer: APIClient, rfq_book: dict[str, Any]) -> None:
    b = rfq_book
    rid = {name: b[name]["quoteRequestId"] for name in ("btc_buy", "eth_sell", "sol_buy", "btc_canceled")}
    url = "/api/queries/quote-requests"
    page = get(viewer, url)
    assert page["count"] == 4
    assert ids(page, "quoteRequestId") == [
        rid["btc_canceled"],
        rid["sol_buy"],
        rid["eth_sell"],
        rid["btc_buy"],
    ]
    assert ids(get(viewer, url, status="Accepted"), "quoteRequestId") == [rid["btc_buy"]]
    assert set(ids(get(viewer, url, status="Open,Quoted"), "quoteRequestId")) == {
        rid["sol_buy"],
        rid["eth_sell"],
    }
    assert set(ids(get(viewer, url, symbol="BTC-PERP,SOL-PERP"), "quoteRequestId")) == {
        rid["btc_buy"],
        rid["btc_canceled"],
        rid["sol_buy"],
    }
    assert set(ids(get(viewer, url, side="Buy"), "quoteRequestId")) == {rid["btc_buy"], rid["sol_buy"]}
    assert set(ids(get(viewer, url, account="A1"), "quoteRequestId")) == {rid["btc_buy"], rid["sol_buy"]}
    assert ids(get(viewer, url, quoteReqID=b["eth_sell"]["quoteReqID"]), "quoteRequestId") == [
        rid["eth_sell"]
    ]
    assert set(ids(get(viewer, url, updatedAfter=b["checkpoint"]), "quoteRequestId")) == set()
    assert ids(get(viewer, url, ordering="orderQty,createdAt"), "quoteRequestId")[-1] == rid["eth_sell"]
    assert ids(get(viewer, url, ordering="validUntilTime", status="Open"), "quoteRequestId") == [
        rid["sol_buy"]
    ]
    page = get(viewer, url, limit=2, offset=1)
    assert page["count"] == 4 and ids(page, "quoteRequestId") == [rid["sol_buy"], rid["eth_sell"]]
    assert page["next"] and page["previous"]


def test_quote_list_and_filters(viewer: APIClient, rfq_book: dict[str, Any]) -> None:
    b = rfq_book
    qid = {name: b[name]["quoteId"] for name in ("q_btc_1", "q_btc_2", "q_eth")}
    url = "/api/queries/quotes"
    assert ids(get(viewer, url), "quoteId") == [qid["q_eth"], qid["q_btc_2"], qid["q_btc_1"]]
    assert ids(get(viewer, url, status="Accepted"), "quoteId") == [qid["q_btc_2"]]
    assert set(ids(get(viewer, url, status="Canceled,Rejected"), "quoteId")) == {qid["q_btc_1"], qid["q_eth"]}
    assert set(ids(get(viewer, url, quoteRequestId=b["btc_buy"]["quoteRequestId"]), "quoteId")) == {
        qid["q_btc_1"],
        qid["q_btc_2"],
    }
    assert ids(get(viewer, url, quoteReqID=b["eth_sell"]["quoteReqID"]), "quoteId") == [qid["q_eth"]]
    assert ids(get(viewer, url, quoteID=b["q_btc_1"]["quoteID"]), "quoteId") == [qid["q_btc_1"]]
    assert ids(get(viewer, url, symbol="ETH-PERP"), "quoteId") == [qid["q_eth"]]
    assert ids(get(viewer, url, updatedAfter=b["checkpoint"]), "quoteId") == [qid["q_eth"]]
    assert ids(get(viewer, url, ordering="offerPx", symbol="BTC-PERP"), "quoteId") == [
        qid["q_btc_2"],
        qid["q_btc_1"],
    ]


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/queries/quote-requests", {"status": "Working"}, "status"),
        ("/api/queries/quote-requests", {"side": "Up"}, "side"),
        ("/api/queries/quote-requests", {"updatedAfter": "yesterday"}, "updatedAfter"),
        ("/api/queries/quote-requests", {"ordering": "price"}, "ordering"),
        ("/api/queries/quotes", {"status": "Open"}, "status"),
        ("/api/queries/quotes", {"ordering": "-nope"}, "ordering"),
        ("/api/queries/quotes", {"limit": "0"}, "limit"),
    ],
)
def test_bad_query_params_are_400(viewer: APIClient, path: str, params: dict[str, str], field: str) -> None:
    status, code, fields = error(viewer.get(path, params))
    assert (status, code, list(fields)) == (400, "validation_failed", [field])


def test_details_and_events(viewer: APIClient, rfq_book: dict[str, Any]) -> None:
    request = rfq_book["btc_buy"]
    rid = request["quoteRequestId"]
    detail = get(viewer, f"/api/queries/quote-requests/{rid}")
    assert detail == QuoteRequest.objects.get(pk=rid).doc
    assert (detail["status"], detail["orderId"]) == ("Accepted", rfq_book["accepted"]["order"]["orderId"])
    events = get(viewer, f"/api/queries/quote-requests/{rid}/events")
    assert [e["type"] for e in events["results"]] == [
        "QuoteRequestCreated",
        "QuoteRequestQuoted",
        "QuoteRequestQuoted",
        "QuoteRequestAccepted",
    ]
    assert {e["topic"] for e in events["results"]} == {"quote-request-events"}
    assert [e["version"] for e in events["results"]] == [1, 2, 3, 4]
    quote_id = rfq_book["q_btc_1"]["quoteId"]
    assert get(viewer, f"/api/queries/quotes/{quote_id}")["status"] == "Canceled"
    events = get(viewer, f"/api/queries/quotes/{quote_id}/events")["results"]
    assert [(e["type"], e["topic"]) for e in events] == [
        ("QuoteCreated", "quote-events"),
        ("QuoteCanceled", "quote-events"),
    ]
    for path in (
        "/api/queries/quote-requests/nope",
        "/api/queries/quote-requests/nope/events",
        "/api/queries/quotes/nope",
        "/api/queries/quotes/nope/events",
    ):
        assert error(viewer.get(path))[:2] == (404, "not_found"), path


def test_global_feed_carries_quote_topics(viewer: APIClient, rfq_book: dict[str, Any]) -> None:
    quotes = get(viewer, "/api/queries/events", topic="quote-events")["results"]
    assert {e["topic"] for e in quotes} == {"quote-events"}
    assert [e["type"] for e in quotes].count("QuoteCreated") == 3
    requests = get(viewer, "/api/queries/events", topic="quote-request-events")["results"]
    assert {e["type"] for e in requests} >= {
        "QuoteRequestCreated",
        "QuoteRequestQuoted",
        "QuoteRequestAccepted",
        "QuoteRequestCanceled",
    }
    everything = get(viewer, "/api/queries/events", limit=1000)["results"]
    seqs = [e["seq"] for e in everything]
    assert seqs == sorted(seqs)
    accept = [
        e for e in everything if e["correlationId"] == rfq_book["accepted"]["events"][0]["correlationId"]
    ]
    assert [e["topic"] for e in accept if e["topic"] != "position-events"] == [
        "order-events",
        "quote-events",
        "quote-request-events",
        "quote-events",
    ]


def test_openapi_documents_the_rfq_endpoints(viewer: APIClient) -> None:
    schema = yaml.safe_load(viewer.get("/api/schema").content)
    for path in (
        "/api/queries/quote-requests",
        "/api/queries/quote-requests/{quote_request_id}",
        "/api/queries/quote-requests/{quote_request_id}/events",
        "/api/queries/quotes",
        "/api/queries/quotes/{quote_id}",
        "/api/queries/quotes/{quote_id}/events",
    ):
        assert "get" in schema["paths"][path], path
    params = {p["name"] for p in schema["paths"]["/api/queries/quote-requests"]["get"]["parameters"]}
    assert params >= {
        "quoteReqID",
        "status",
        "symbol",
        "side",
        "account",
        "updatedAfter",
        "ordering",
        "limit",
        "offset",
    }
    params = {p["name"] for p in schema["paths"]["/api/queries/quotes"]["get"]["parameters"]}
    assert params >= {
        "quoteID",
        "quoteRequestId",
        "quoteReqID",
        "status",
        "symbol",
        "updatedAfter",
        "ordering",
    }
    components = schema["components"]["schemas"]
    assert {"CreateQuoteRequestCommand", "AcceptQuoteCommand", "QuoteState", "QuoteRequestState"} <= set(
        components
    )


# --- fuzzing: junk in any field is a 4xx that appends nothing, never a 500 -------------------------


def _rfq_bodies(command: str, request: dict[str, Any], quote_id: str) -> Any:
    from hypothesis import strategies as st

    from tests.test_api_errors_auth import _MISSING, BY_KIND, JUNK

    valid: dict[str, Any] = {
        "CreateQuoteRequestCommand": {
            **request_body(),
            "validUntilTime": "2099-01-01T00:00:00Z",
            "text": "x",
        },
        "CreateQuoteCommand": {**quote_body(request), "validUntilTime": "2099-01-01T00:00:00Z"},
        "AcceptQuoteCommand": {
            "quoteId": quote_id,
            "clOrdID": "FZ",
            "venue": "MANUAL",
            "handling": "Desk",
            "expectedVersion": 1,
        },
    }[command]
    valid.pop("commandType", None)

    @st.composite
    def bodies(draw: Any) -> dict[str, Any]:
        body = dict(valid)
        # fresh natural keys, so a kept valid body is not merely a duplicate of the last one
        for key in ("quoteReqID", "quoteID", "clOrdID"):
            if key in body and not (command == "CreateQuoteCommand" and key == "quoteReqID"):
                body[key] = f"FZ{draw(st.integers(0, 10**9))}"
        names = draw(st.lists(st.sampled_from(sorted(valid)), min_size=1, max_size=3, unique=True))
        for name in names:
            kind = next((s for suffix, s in BY_KIND.items() if name.endswith(suffix)), JUNK)
            value = draw(st.one_of(st.just(_MISSING), kind, JUNK))
            if value is _MISSING:
                body.pop(name, None)
            else:
                body[name] = value
        return {"commandType": command, **body}

    return bodies()


@pytest.mark.parametrize(
    ("command", "topic"),
    [
        ("CreateQuoteRequestCommand", "quote-requests"),
        ("CreateQuoteCommand", "quotes"),
        ("AcceptQuoteCommand", "quotes"),
    ],
)
def test_fuzzed_rfq_commands_never_answer_500(desk: APIClient, command: str, topic: str) -> None:
    import json

    from hypothesis import HealthCheck, given, settings

    request = ok(desk, "quote-requests", request_body(orderQty="5"))["quoteRequest"]
    quote = ok(desk, "quotes", quote_body(request))["quote"]
    seen: set[int] = set()

    @settings(
        max_examples=25,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(body=_rfq_bodies(command, request, quote["quoteId"]))
    def check(body: dict[str, Any]) -> None:
        before = counts()
        response = desk.post(f"/api/commands/{topic}", data=json.dumps(body), content_type="application/json")
        seen.add(response.status_code)
        assert response.status_code < 500, (body, response.content[:300])
        js = response.json()
        if response.status_code >= 400:
            assert set(js) == {"error"} and js["error"]["code"] and isinstance(js["error"]["fields"], dict)
            assert counts() == before, body
        else:
            assert js["events"] or js["duplicate"], js

    check()
    assert 400 in seen, seen
