"""The failed-execution review queue in the admin: the changelist opens on PendingReview, says why
each execution is held, and the desk corrects, allocates or rejects through the command handlers
(admin actions on several executions, or the buttons on one), recorded with the admin as actor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from executions.enums import REVIEW_REASON_TEXT, ReviewReason
from executions.models import Execution, ExecutionEvent
from oms.core.models import IdempotencyRecord
from oms.orders.models import Order
from tests.admin_support import EXECUTIONS, browser, held, hidden, limit_market, messages_of, staff
from tests.lifecycle import D, Desk, q


@dataclass
class Queue:
    market: dict[str, Any]
    through: dict[str, Any]  # price_through_limit: the desk may override it
    overfill: dict[str, Any]  # overfill: may not be allocated as it is
    unknown: dict[str, Any]  # unknown_order
    allocated: dict[str, Any]


@pytest.fixture
def queue(trader: Desk) -> Queue:
    market = limit_market(trader, 100, "10")
    return Queue(
        market=market,
        through=held(trader, market, 5, "11"),
        overfill=held(trader, market, 150, "10"),
        unknown=held(trader, "O-unknown", 1, "10", venue="MANUAL"),
        allocated=trader.execute(market, 10, "10")["execution"],
    )


@pytest.fixture
def desk_admin(db: Any) -> User:
    return staff("deskadmin", "desk")


@pytest.fixture
def deskc(desk_admin: User) -> Client:
    return browser(desk_admin)


def events(execution: dict[str, Any]) -> list[ExecutionEvent]:
    return list(ExecutionEvent.objects.filter(aggregate_id=execution["executionId"]).order_by("version"))


def row(execution: dict[str, Any]) -> Execution:
    return Execution.objects.get(pk=execution["executionId"])


def ids(*executions: dict[str, Any]) -> list[str]:
    return [e["executionId"] for e in executions]


def open_action(client: Client, verb: str, *executions: dict[str, Any]) -> Any:
    """Choose an action for the selected rows on the changelist: answers its form page."""
    response = client.post(
        EXECUTIONS + "?status=all", {"action": verb, "_selected_action": ids(*executions), "index": 0}
    )
    assert response.status_code == 200, response.status_code
    return response


def apply_action(
    client: Client, verb: str, form_page: Any, *executions: dict[str, Any], **fields: str
) -> Any:
    html = form_page.content.decode()
    data = {
        "action": verb,
        "_selected_action": ids(*executions),
        "token": hidden(html, "token"),
        "versions": hidden(html, "versions"),
        "apply": "1",
        **fields,
    }
    return client.post(EXECUTIONS + "?status=all", data, follow=True)


# --- the queue ------------------------------------------------------------------------------------


def test_changelist_opens_on_pending_review(deskc: Client, queue: Queue) -> None:
    response = deskc.get(EXECUTIONS)
    html = response.content.decode()
    for execution in (queue.through, queue.overfill, queue.unknown):
        assert execution["execID"] in html
    assert queue.allocated["execID"] not in html
    status_filter = next(f for f in response.context["cl"].filter_specs if f.parameter_name == "status")
    assert [c["display"] for c in status_filter.choices(response.context["cl"]) if c["selected"]] == [
        "Pending review"
    ]
    every = deskc.get(EXECUTIONS, {"status": "all"}).content.decode()
    assert all(e["execID"] in every for e in (queue.through, queue.overfill, queue.allocated))
    allocated = deskc.get(EXECUTIONS, {"status": "Allocated"}).content.decode()
    assert queue.allocated["execID"] in allocated and queue.through["execID"] not in allocated


def test_reasons_are_shown_plainly_with_their_codes_and_the_order_one_click_away(
    deskc: Client, queue: Queue
) -> None:
    html = deskc.get(EXECUTIONS).content.decode()
    for code in ("price_through_limit", "overfill", "unknown_order"):
        assert f"{REVIEW_REASON_TEXT[code]} <code>{code}</code>" in html.replace("&#x27;", "'")
    m = queue.market
    assert f'<a href="/admin/orders/order/{m["orderId"]}/change/">{m["clOrdID"]}</a> Buy ACME' in html
    client_link = f'<a href="/admin/orders/order/{m["rootId"]}/change/">{m["rootId"]}</a>'
    assert client_link in html  # held: the client order above the order it targets
    assert "<em>unknown order</em> O-unknown" in html
    allocated = deskc.get(EXECUTIONS, {"status": "Allocated"}).content.decode()
    assert client_link in allocated


def test_every_review_reason_has_a_plain_text() -> None:
    assert set(REVIEW_REASON_TEXT) == {r.value for r in ReviewReason}


def test_reason_filter(deskc: Client, queue: Queue) -> None:
    html = deskc.get(EXECUTIONS, {"reason": "overfill"}).content.decode()
    assert queue.overfill["execID"] in html
    assert queue.through["execID"] not in html and queue.unknown["execID"] not in html
    html = deskc.get(EXECUTIONS, {"reason": "price_through_limit", "venue": "MANUAL"}).content.decode()
    assert queue.through["execID"] in html and queue.overfill["execID"] not in html


def test_execution_page_shows_the_reasons_in_full_and_the_review_buttons(deskc: Client, queue: Queue) -> None:
    page = deskc.get(f"{EXECUTIONS}{queue.through['executionId']}/change/")
    html = page.content.decode()
    assert "The price is through the order&#x27;s limit." in html  # the rule's own message
    for verb in ("correct", "allocate", "reject"):
        assert f"/review/{verb}/" in html
    allocated = deskc.get(f"{EXECUTIONS}{queue.allocated['executionId']}/change/").content.decode()
    assert "/review/correct/" in allocated  # TradeCorrect
    assert "/review/allocate/" not in allocated and "/review/reject/" not in allocated


# --- actions on selected executions ---------------------------------------------------------------


def test_allocate_action_applies_what_it_may_and_reports_each_refusal(
    deskc: Client, queue: Queue, trader: Desk
) -> None:
    form_page = open_action(deskc, "allocate", queue.through, queue.overfill)
    assert queue.through["execID"] in form_page.content.decode()
    response = apply_action(
        deskc, "allocate", form_page, queue.through, queue.overfill, text="venue confirmed"
    )
    assert response.redirect_chain[-1][0].startswith(EXECUTIONS)
    notes = messages_of(response)
    assert any(
        n.startswith(f"{queue.through['execID']} ") and "allocate done — Allocated" in n for n in notes
    )
    refusal = next(n for n in notes if n.startswith(f"{queue.overfill['execID']} "))
    assert "rule_refused (allocation_valid)" in refusal and "overfill" in refusal

    allocated = events(queue.through)[-1]
    assert (allocated.type, allocated.actor) == ("ExecutionAllocated", "deskadmin")
    assert allocated.data["overriddenReasons"] == ["price_through_limit"]
    assert allocated.data["text"] == "venue confirmed"
    assert allocated.command["expectedVersion"] == 1
    assert row(queue.through).status == "Allocated"
    assert q(trader.refresh(queue.market)) == ("PartiallyFilled", 100, 15, 85)
    assert len(events(queue.overfill)) == 1 and row(queue.overfill).status == "PendingReview"


def test_a_double_submit_records_nothing_twice(deskc: Client, queue: Queue) -> None:
    form_page = open_action(deskc, "allocate", queue.through, queue.overfill)
    apply_action(deskc, "allocate", form_page, queue.through, queue.overfill)
    before = (len(events(queue.through)), len(events(queue.overfill)), IdempotencyRecord.objects.count())
    again = apply_action(deskc, "allocate", form_page, queue.through, queue.overfill)
    assert (
        len(events(queue.through)),
        len(events(queue.overfill)),
        IdempotencyRecord.objects.count(),
    ) == before
    notes = messages_of(again)
    assert any("already done by an earlier submission" in n for n in notes)
    assert any(queue.overfill["execID"] in n and "rule_refused" in n for n in notes)  # the first answer


def test_correct_action_records_the_new_terms_with_the_admin_as_actor(deskc: Client, queue: Queue) -> None:
    form_page = open_action(deskc, "correct", queue.overfill, queue.through)
    token = hidden(form_page.content.decode(), "token")
    response = apply_action(
        deskc, "correct", form_page, queue.overfill, queue.through, last_qty="50", last_px="10"
    )
    assert sum("correct done" in n for n in messages_of(response)) == 2
    for execution in (queue.overfill, queue.through):
        corrected = events(execution)[-1]
        assert (corrected.type, corrected.actor) == ("ExecutionCorrected", "deskadmin")
        assert corrected.correlation_id == f"admin-{token}"  # one admin action, one correlation id
        assert (D(corrected.data["lastQty"]), D(corrected.data["lastPx"])) == (50, 10)
        assert corrected.data["reviewReasons"] == []  # nothing wrong any more: ready to allocate
        assert row(execution).status == "PendingReview"


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"last_qty": "-1"}, "last_qty", "Must be greater than zero."),
        ({"last_qty": "abc"}, "last_qty", "Enter a number."),
        ({"last_px": "0"}, "last_px", "Must be greater than zero."),
        ({}, "__all__", "Give lastQty and/or lastPx."),
    ],
)
def test_invalid_correction_shows_field_errors_and_changes_nothing(
    deskc: Client, queue: Queue, fields: dict[str, str], field: str, message: str
) -> None:
    form_page = open_action(deskc, "correct", queue.overfill)
    response = apply_action(deskc, "correct", form_page, queue.overfill, **fields)
    assert response.redirect_chain == []  # the form again
    form = response.context["form"]
    assert form.errors[field] == [message]
    assert message in response.content.decode()
    assert len(events(queue.overfill)) == 1 and not IdempotencyRecord.objects.exists()


def test_invalid_allocation_input_shows_field_errors_and_changes_nothing(deskc: Client, queue: Queue) -> None:
    form_page = open_action(deskc, "allocate", queue.unknown)
    response = apply_action(deskc, "allocate", form_page, queue.unknown, order_id="O" * 65)
    assert response.context["form"].errors["order_id"] == [
        "Ensure this value has at most 64 characters (it has 65)."
    ]
    tampered = apply_action(deskc, "allocate", form_page, queue.unknown, token="not-a-token")
    assert "token" in tampered.context["form"].errors
    assert len(events(queue.unknown)) == 1 and not IdempotencyRecord.objects.exists()


def test_reject_needs_a_text_then_rejects(deskc: Client, queue: Queue) -> None:
    form_page = open_action(deskc, "reject", queue.unknown)
    missing = apply_action(deskc, "reject", form_page, queue.unknown)
    assert missing.context["form"].errors["text"] == ["This field is required."]
    assert row(queue.unknown).status == "PendingReview"
    done = apply_action(deskc, "reject", form_page, queue.unknown, text="not ours")
    assert any("reject done — Rejected" in n for n in messages_of(done))
    rejected = events(queue.unknown)[-1]
    assert (rejected.type, rejected.actor, rejected.data["text"]) == (
        "ExecutionRejected",
        "deskadmin",
        "not ours",
    )
    assert row(queue.unknown).status == "Rejected"


def test_allocate_to_another_order(deskc: Client, queue: Queue, trader: Desk) -> None:
    other = trader.venue_order(20)
    form_page = open_action(deskc, "allocate", queue.unknown)
    apply_action(deskc, "allocate", form_page, queue.unknown, order_id=other["orderId"])
    state = row(queue.unknown)
    assert (state.status, state.order_id, state.client_order_id) == (
        "Allocated",
        other["orderId"],
        other["rootId"],
    )
    assert q(trader.refresh(other)) == ("PartiallyFilled", 20, 1, 19)
    assert events(queue.unknown)[-1].actor == "deskadmin"


def test_an_action_refused_by_the_state_machine_is_reported(deskc: Client, queue: Queue) -> None:
    form_page = open_action(deskc, "reject", queue.allocated)
    assert "reject is not allowed now" in form_page.content.decode()
    response = apply_action(deskc, "reject", form_page, queue.allocated, text="late")
    assert any("invalid_transition" in n for n in messages_of(response))
    assert row(queue.allocated).status == "Allocated" and len(events(queue.allocated)) == 1


def test_viewers_cannot_run_the_actions(queue: Queue) -> None:
    viewer = browser(staff("watcher", "viewer"))
    response = viewer.post(
        EXECUTIONS, {"action": "reject", "_selected_action": ids(queue.unknown), "index": 0}
    )
    assert response.status_code == 200 and response.context["action_form"] is None
    assert row(queue.unknown).status == "PendingReview" and len(events(queue.unknown)) == 1


def test_superusers_may_act_too(queue: Queue) -> None:
    boss = browser(staff("root", superuser=True))
    form_page = open_action(boss, "reject", queue.unknown)
    apply_action(boss, "reject", form_page, queue.unknown, text="duplicate feed")
    assert events(queue.unknown)[-1].actor == "root"


# --- the buttons on one execution ---------------------------------------------------------------------


def review_url(execution: dict[str, Any], verb: str) -> str:
    return f"{EXECUTIONS}{execution['executionId']}/review/{verb}/"


def submit(client: Client, execution: dict[str, Any], verb: str, **fields: str) -> Any:
    page = client.get(review_url(execution, verb))
    assert page.status_code == 200
    html = page.content.decode()
    data = {"token": hidden(html, "token"), "versions": hidden(html, "versions"), "apply": "1", **fields}
    return client.post(review_url(execution, verb), data)


def test_correct_button_then_allocate_button(deskc: Client, queue: Queue, trader: Desk) -> None:
    corrected = submit(deskc, queue.overfill, "correct", last_qty="40")
    assert corrected.status_code == 302
    assert corrected["Location"] == f"{EXECUTIONS}{queue.overfill['executionId']}/change/"
    allocated = submit(deskc, queue.overfill, "allocate")
    assert allocated.status_code == 302
    assert [(e.type, e.actor) for e in events(queue.overfill)] == [
        ("ExecutionHeld", "trader"),
        ("ExecutionCorrected", "deskadmin"),
        ("ExecutionAllocated", "deskadmin"),
    ]
    assert q(trader.refresh(queue.market)) == ("PartiallyFilled", 100, 50, 50)


def test_a_refusal_is_shown_on_the_form_field_and_as_a_message(deskc: Client, queue: Queue) -> None:
    response = submit(deskc, queue.unknown, "allocate", order_id="O-nope")
    assert response.status_code == 200
    assert response.context["form"].errors["order_id"] == ["No order 'O-nope'."]
    assert any(
        n.startswith(f"{queue.unknown['execID']} ") and "not_found" in n for n in messages_of(response)
    )
    refused = submit(deskc, queue.overfill, "allocate")
    assert "overfill: The fill would take" in str(refused.context["form"].non_field_errors())
    assert len(events(queue.unknown)) == 1 and len(events(queue.overfill)) == 1


def test_a_correction_that_would_overfill_is_refused_on_its_field(
    deskc: Client, queue: Queue, trader: Desk
) -> None:
    response = submit(deskc, queue.allocated, "correct", last_qty="101")  # beyond the orderQty of 100
    assert response.status_code == 200
    assert response.context["form"].errors["last_qty"] == ["Would overfill the order."]
    assert any("rule_refused (no_overfill)" in n for n in messages_of(response))
    assert len(events(queue.allocated)) == 1
    assert q(trader.refresh(queue.market)) == ("PartiallyFilled", 100, 10, 90)
    done = submit(deskc, queue.allocated, "correct", last_qty="12", text="venue restated")
    assert done.status_code == 302
    assert q(trader.refresh(queue.market)) == ("PartiallyFilled", 100, 12, 88)  # TradeCorrect along the tree
    assert (events(queue.allocated)[-1].type, events(queue.allocated)[-1].actor) == (
        "ExecutionCorrected",
        "deskadmin",
    )


def test_a_stale_form_is_refused_with_a_version_conflict(deskc: Client, queue: Queue, trader: Desk) -> None:
    page = deskc.get(review_url(queue.through, "reject")).content.decode()
    trader.ok("executions", trader.exec_command("CorrectExecutionCommand", queue.through, lastPx="10"))
    response = deskc.post(
        review_url(queue.through, "reject"),
        {"token": hidden(page, "token"), "versions": hidden(page, "versions"), "text": "stale", "apply": "1"},
    )
    assert response.status_code == 200
    assert any("version_conflict" in n for n in messages_of(response))
    assert row(queue.through).status == "PendingReview"
    assert [e.actor for e in events(queue.through)] == ["trader", "trader"]
    # shown again on the state as it is now: a new submission goes through
    html = response.content.decode()
    again = deskc.post(
        review_url(queue.through, "reject"),
        {"token": hidden(html, "token"), "versions": hidden(html, "versions"), "text": "now", "apply": "1"},
    )
    assert again.status_code == 302 and row(queue.through).status == "Rejected"


def test_unknown_review_command_and_unknown_execution(deskc: Client, queue: Queue) -> None:
    assert deskc.get(review_url(queue.through, "bust")).status_code == 404
    missing = deskc.get(f"{EXECUTIONS}E-nope/review/reject/")
    assert missing.status_code == 302 and missing["Location"] == "/admin/"


def test_the_queue_page_and_the_form_page_do_not_query_per_row(
    deskc: Client, trader: Desk, django_assert_max_num_queries: Any
) -> None:
    market = limit_market(trader, 1000)
    few = [held(trader, market, 1, "11") for _ in range(2)]
    with CaptureQueriesContext(connection) as small:
        open_action(deskc, "correct", *few)
    many = few + [held(trader, market, 1, "11") for _ in range(8)]
    with django_assert_max_num_queries(len(small.captured_queries)):
        open_action(deskc, "correct", *many)
    assert Order.objects.count() == 2
