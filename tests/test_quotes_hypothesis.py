"""Random RFQ command sequences against the write path, checked against a small model.

A Hypothesis state machine creates quote requests and quotes, moves the clock, and throws every RFQ
command at them, valid or not: commands in the wrong state, expired quotes (before and after the
lifecycle job), unknown ids, bad fields, reused natural keys. The model predicts each outcome (the
new statuses, or the stable error code); a refusal must leave the database exactly as it was. After
each step the database must agree with the model, an accepted request must have exactly one
accepted quote and one client order at the quoted price, no quote may stay active under a closed
request, the due selectors must name exactly what the model says is due, versions must count the
events, and replaying the event log must give back the live state.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, transaction
from django.db.models import Count, Max
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)

from oms.core import dispatch as dispatch_module
from oms.core.dispatch import CommandResult, dispatch
from oms.core.errors import ApplicationError
from oms.core.eventstore import CommandContext
from oms.core.replay import replay
from oms.orders.models import Order
from oms.quotes.models import Quote, QuoteEvent, QuoteRequest, QuoteRequestEvent
from oms.quotes.selectors import due_quote_requests, due_quotes
from tests.test_quotes import snapshot

_ids = itertools.count(1)
OPEN = ("Open", "Quoted")

validities = st.one_of(st.none(), st.sampled_from([5, 30, 120]))
prices = st.sampled_from(["99", "100", "100.5", "101"])
sizes = st.one_of(st.none(), st.sampled_from(["1", "5", "10", "20"]))


def fresh(prefix: str) -> str:
    return f"{prefix}{os.getpid()}-{next(_ids)}"


@dataclass
class Req:
    status: str
    side: str
    qty: Decimal
    valid_until: dt.datetime | None
    body: dict[str, Any]
    quotes: list[str] = field(default_factory=list)


@dataclass
class Qt:
    status: str
    request_id: str
    bid: tuple[str | None, str | None]
    offer: tuple[str | None, str | None]
    valid_until: dt.datetime | None


class RfqMachine(RuleBasedStateMachine):
    requests = Bundle("requests")
    quotes = Bundle("quotes")

    def __init__(self) -> None:
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.now = dt.datetime(2030, 1, 1, 12, tzinfo=dt.UTC)
        real = CommandContext
        self._real_context = dispatch_module.CommandContext
        dispatch_module.CommandContext = lambda **kw: real(now=self.now, **kw)  # type: ignore[assignment,misc]  # the test swaps the context class for one with a fixed clock
        self.reqs: dict[str, Req] = {}
        self.qts: dict[str, Qt] = {}
        self.orders: dict[str, str] = {}  # request id -> order id

    def teardown(self) -> None:
        try:
            report = replay()
            assert report.ok, "\n".join(str(d) for d in report.differences[:20])
        finally:
            dispatch_module.CommandContext = self._real_context  # type: ignore[misc]  # the test puts the real context class back
            transaction.set_rollback(True)
            self._atomic.__exit__(None, None, None)

    # --- sending --------------------------------------------------------------------------------
    def send(self, topic: str, body: dict[str, Any], expect: str | None) -> CommandResult | None:
        """`expect` is None for success, else the error code the model predicts."""
        before = snapshot()
        try:
            result = dispatch(topic, body, actor="fuzzer")
        except ApplicationError as exc:
            assert snapshot() == before, (
                f"{body['commandType']} refused ({exc.code}) but changed the database"
            )
            assert exc.code == expect, (
                f"{body}: expected {expect or 'success'}, got {exc.code}: {exc.message}"
            )
            return None
        assert expect is None, f"{body}: expected {expect}, but it succeeded"
        return result

    def expired(self, valid_until: dt.datetime | None) -> bool:
        return valid_until is not None and valid_until <= self.now

    def until(self, seconds: int | None) -> str | None:
        if seconds is None:
            return None
        return (self.now + dt.timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")

    def close_quotes(self, request_id: str, keep: str | None = None) -> None:
        for quote_id in self.reqs[request_id].quotes:
            if quote_id != keep and self.qts[quote_id].status == "Active":
                self.qts[quote_id].status = "Canceled"

    # --- time -----------------------------------------------------------------------------------
    @rule(seconds=st.sampled_from([1, 10, 60]))
    def time_passes(self, seconds: int) -> None:
        self.now += dt.timedelta(seconds=seconds)

    # --- quote requests -------------------------------------------------------------------------
    @rule(
        target=requests,
        side=st.sampled_from(["Buy", "Sell", "SellShort"]),
        qty=st.sampled_from(["1", "5", "10"]),
        validity=validities,
    )
    def create_request(self, side: str, qty: str, validity: int | None) -> str:
        body = {
            "commandType": "CreateQuoteRequestCommand",
            "quoteReqID": fresh("R"),
            "symbol": "BTC-PERP",
            "side": side,
            "orderQty": qty,
            "account": "ACC1",
        }
        if validity is not None:
            body["validUntilTime"] = self.until(validity)
        result = self.send("quote-requests", body, None)
        assert result is not None and result.status_code == 201
        doc = result.body["quoteRequest"]
        self.reqs[doc["quoteRequestId"]] = Req(
            "Open", side, Decimal(qty), self.now + dt.timedelta(seconds=validity) if validity else None, body
        )
        return doc["quoteRequestId"]

    @rule(request_id=requests, same=st.booleans())
    def repeat_request(self, request_id: str, same: bool) -> None:
        body = dict(self.reqs[request_id].body)
        if not same:
            body["orderQty"] = "777"
        result = self.send("quote-requests", body, None if same else "duplicate_cl_ord_id")
        if result is not None:
            assert result.body["duplicate"] is True and result.events == []
            assert result.body["quoteRequest"]["quoteRequestId"] == request_id

    @rule(
        request_id=requests,
        command=st.sampled_from(
            ["CancelQuoteRequestCommand", "RejectQuoteRequestCommand", "ExpireQuoteRequestCommand"]
        ),
    )
    def close_request(self, request_id: str, command: str) -> None:
        req = self.reqs[request_id]
        expect = None if req.status in OPEN else "invalid_transition"
        if expect is None and command == "ExpireQuoteRequestCommand" and not self.expired(req.valid_until):
            expect = "invalid_transition"
        result = self.send("quote-requests", {"commandType": command, "quoteRequestId": request_id}, expect)
        if result is not None:
            req.status = {
                "CancelQuoteRequestCommand": "Canceled",
                "RejectQuoteRequestCommand": "Rejected",
                "ExpireQuoteRequestCommand": "Expired",
            }[command]
            self.close_quotes(request_id)

    # --- quotes ---------------------------------------------------------------------------------
    @rule(
        target=quotes,
        request_id=requests,
        bid=st.one_of(st.none(), prices),
        offer=st.one_of(st.none(), prices),
        bid_size=sizes,
        offer_size=sizes,
        validity=validities,
    )
    def create_quote(
        self,
        request_id: str,
        bid: str | None,
        offer: str | None,
        bid_size: str | None,
        offer_size: str | None,
        validity: int | None,
    ) -> Any:
        req = self.reqs[request_id]
        bid_size = bid_size if bid is not None else None
        offer_size = offer_size if offer is not None else None
        body = {
            "commandType": "CreateQuoteCommand",
            "quoteID": fresh("Q"),
            "quoteReqID": req.body["quoteReqID"],
            "bidPx": bid,
            "offerPx": offer,
            "bidSize": bid_size,
            "offerSize": offer_size,
            "validUntilTime": self.until(validity),
        }
        body = {k: v for k, v in body.items() if v is not None}
        needed = offer if req.side == "Buy" else bid
        if bid is None and offer is None:
            expect: str | None = "validation_failed"
        elif bid is not None and offer is not None and Decimal(bid) > Decimal(offer):
            expect = "validation_failed"  # crossed
        elif req.status not in OPEN or self.expired(req.valid_until):
            expect = "invalid_transition"
        elif needed is None:
            expect = "validation_failed"
        else:
            expect = None
        result = self.send("quotes", body, expect)
        if result is None:
            return multiple()
        quote_id = result.body["quote"]["quoteId"]
        self.qts[quote_id] = Qt(
            "Active",
            request_id,
            (bid, bid_size),
            (offer, offer_size),
            self.now + dt.timedelta(seconds=validity) if validity else None,
        )
        req.status = "Quoted"
        req.quotes.append(quote_id)
        return quote_id

    @rule(
        quote_id=quotes,
        command=st.sampled_from(["RejectQuoteCommand", "CancelQuoteCommand", "ExpireQuoteCommand"]),
    )
    def close_quote(self, quote_id: str, command: str) -> None:
        qt = self.qts[quote_id]
        expect = None if qt.status == "Active" else "invalid_transition"
        if expect is None and command == "ExpireQuoteCommand" and not self.expired(qt.valid_until):
            expect = "invalid_transition"
        result = self.send("quotes", {"commandType": command, "quoteId": quote_id}, expect)
        if result is not None:
            qt.status = {
                "RejectQuoteCommand": "Rejected",
                "CancelQuoteCommand": "Canceled",
                "ExpireQuoteCommand": "Expired",
            }[command]

    @rule(quote_id=quotes)
    def accept(self, quote_id: str) -> None:
        qt = self.qts[quote_id]
        req = self.reqs[qt.request_id]
        ok = qt.status == "Active" and not self.expired(qt.valid_until) and not self.expired(req.valid_until)
        result = self.send(
            "quotes",
            {"commandType": "AcceptQuoteCommand", "quoteId": quote_id},
            None if ok else "invalid_transition",
        )
        if result is None:
            return
        px, size = qt.offer if req.side == "Buy" else qt.bid
        assert px is not None
        qty = min(req.qty, Decimal(size)) if size is not None else req.qty
        order = result.body["order"]
        assert (Decimal(order["price"]), Decimal(order["orderQty"]), order["side"]) == (
            Decimal(px),
            qty,
            req.side,
        )
        assert result.events[0]["type"] == "OrderCreated"
        qt.status = "Accepted"
        req.status = "Accepted"
        self.close_quotes(qt.request_id, keep=quote_id)
        self.orders[qt.request_id] = order["orderId"]

    @rule(
        topic_command=st.sampled_from(
            [
                ("quotes", "AcceptQuoteCommand", "quoteId"),
                ("quotes", "ExpireQuoteCommand", "quoteId"),
                ("quote-requests", "CancelQuoteRequestCommand", "quoteRequestId"),
            ]
        ),
        bad=st.sampled_from([None, 7, "", "x" * 65]),
    )
    def malformed_reference(self, topic_command: tuple[str, str, str], bad: Any) -> None:
        topic, command, field_name = topic_command
        body = {"commandType": command}
        if bad is not None:
            body[field_name] = bad
        self.send(topic, body, "validation_failed")

    @rule(command=st.sampled_from(["AcceptQuoteCommand", "CancelQuoteCommand"]))
    def unknown_quote(self, command: str) -> None:
        self.send("quotes", {"commandType": command, "quoteId": "Q-unknown"}, "not_found")

    @precondition(lambda self: bool(self.reqs))
    @rule(qty=st.sampled_from(["0", "-1", "abc", ""]))
    def bad_request(self, qty: str) -> None:
        self.send(
            "quote-requests",
            {
                "commandType": "CreateQuoteRequestCommand",
                "quoteReqID": fresh("R"),
                "symbol": "X",
                "side": "Buy",
                "orderQty": qty,
                "account": "A",
            },
            "validation_failed",
        )

    # --- invariants -----------------------------------------------------------------------------
    @invariant()
    def database_agrees_with_the_model(self) -> None:
        assert dict(QuoteRequest.objects.values_list("pk", "status")) == {
            k: r.status for k, r in self.reqs.items()
        }
        assert dict(Quote.objects.values_list("pk", "status")) == {k: q.status for k, q in self.qts.items()}

    @invariant()
    def accepted_requests_have_one_accepted_quote_and_their_order(self) -> None:
        orders = {
            o["attributes"].get("quoteRequestId"): o for o in Order.objects.values_list("doc", flat=True)
        }
        assert set(orders) == set(self.orders)
        for request_id, req in self.reqs.items():
            doc = QuoteRequest.objects.get(pk=request_id).doc
            accepted = [q for q in req.quotes if self.qts[q].status == "Accepted"]
            if req.status == "Accepted":
                assert len(accepted) == 1
                order = orders[request_id]
                assert doc["orderId"] == order["orderId"] and doc["acceptedQuoteId"] == accepted[0]
                quote = Quote.objects.get(pk=accepted[0]).doc
                assert (quote["orderId"], quote["acceptedPx"]) == (order["orderId"], order["price"])
                assert order["attributes"]["quoteId"] == accepted[0]
            else:
                assert accepted == [] and doc["orderId"] is None
            if req.status not in OPEN:
                assert all(self.qts[q].status != "Active" for q in req.quotes)
            assert doc["quoteIds"] == req.quotes

    @invariant()
    def due_selectors_name_what_is_due(self) -> None:
        assert set(due_quotes(self.now)) == {
            k for k, q in self.qts.items() if q.status == "Active" and self.expired(q.valid_until)
        }
        assert set(due_quote_requests(self.now)) == {
            k for k, r in self.reqs.items() if r.status in OPEN and self.expired(r.valid_until)
        }

    @invariant()
    def versions_count_events(self) -> None:
        for event_model, state_model in ((QuoteRequestEvent, QuoteRequest), (QuoteEvent, Quote)):
            versions = dict(state_model.objects.values_list("pk", "version"))
            counted = event_model.objects.values("aggregate_id").annotate(n=Count("id"), top=Max("version"))
            assert len(counted) == len(versions)
            for row in counted:
                assert row["n"] == row["top"] == versions[row["aggregate_id"]], row


@pytest.mark.django_db
def test_random_rfq_sequences_keep_the_invariants() -> None:
    run_state_machine_as_test(
        RfqMachine,
        settings=settings(
            max_examples=int(
                os.environ.get("HYPOTHESIS_MAX_EXAMPLES", "10" if connection.vendor == "postgresql" else "20")
            ),
            # a few seconds on an idle machine; HYPOTHESIS_MAX_EXAMPLES=300 hunts longer
            stateful_step_count=30,
            print_blob=True,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
