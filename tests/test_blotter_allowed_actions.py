"""The desk forms follow the state machine: an action the target's `allowedActions` lacks is refused
on the server (409 on GET, 400 on a forged POST, nothing appended), whatever the page showed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from oms.core import eventfeed
from oms.orders.models import Order
from tests.lifecycle import Desk

pytestmark = pytest.mark.django_db

URL = "/blotter/forms/{}/"


@pytest.fixture
def web(desk_user: User) -> Client:
    client = Client()
    client.force_login(desk_user)
    return client


def _canceled_client(d: Desk) -> dict[str, Any]:
    return d.cancel(d.client_order(10))


def _held_then_rejected(d: Desk) -> dict[str, Any]:
    held = d.execute(d.venue_order(10), 50)["execution"]  # an overfill: held for review
    return d.ok("executions", d.exec_command("RejectExecutionCommand", held))["execution"]


def _allocated(d: Desk) -> dict[str, Any]:
    return d.execute(d.venue_order(10), 5)["execution"]


# action -> (the target in a state whose allowedActions lack it, the action's name there)
NOT_ALLOWED: dict[str, tuple[Callable[[Desk], dict[str, Any]], str]] = {
    "place": (_canceled_client, "place"),
    "cancel": (_canceled_client, "cancel"),
    "replace": (lambda d: d.replace(d.venue_order(10), orderQty=8), "replace"),  # one replace at a time
    "accept": (lambda d: d.venue_order(10), "accept"),  # already accepted
    "reject": (lambda d: d.venue_order(10), "reject"),
    "confirm-cancel": (
        lambda d: d.do("RejectOrderCommand", d.venue_order(10, accept=False)),
        "confirmCancel",
    ),
    "reject-cancel": (lambda d: d.venue_order(10), "rejectCancel"),  # no cancel pending
    "confirm-replace": (lambda d: d.venue_order(10), "confirmReplace"),  # no replace pending
    "reject-replace": (lambda d: d.venue_order(10), "rejectReplace"),
    "fill": (lambda d: d.do("ConfirmCancelCommand", d.venue_order(10)), "fill"),  # the venue canceled it
    "exec-correct": (_held_then_rejected, "correct"),
    "exec-allocate": (_allocated, "allocate"),
    "exec-reject": (_allocated, "reject"),
}


@pytest.mark.parametrize("action", sorted(NOT_ALLOWED))
def test_a_form_refuses_an_action_the_state_machine_does_not_allow(
    web: Client, trader: Desk, action: str
) -> None:
    make, name = NOT_ALLOWED[action]
    target = make(trader)
    assert name not in target["allowedActions"]
    key = "executionId" if action.startswith("exec-") else "orderId"
    params = {key: target[key]}

    shown = web.get(URL.format(action), params)
    assert shown.status_code == 409
    assert shown.json()["error"]["code"] == "not_applicable"
    assert target["status"] in shown.json()["error"]["message"]

    before = eventfeed.count_events_after(0)
    forged = web.post(
        URL.format(action), {**params, "token": "f" * 32, "clOrdID": "FORGED-1", "lastQty": "1"}
    )
    assert forged.status_code == 400
    assert any("is not allowed" in str(e) for e in forged.context["form"].non_field_errors())
    assert eventfeed.count_events_after(0) == before


def test_a_form_opens_exactly_when_the_document_allows_its_action(web: Client, trader: Desk) -> None:
    pending = trader.cancel(trader.venue_order(10))
    assert {"confirmCancel", "rejectCancel"} <= set(pending["allowedActions"])
    assert "cancel" not in pending["allowedActions"]
    for action, opens in (
        ("confirm-cancel", True),
        ("reject-cancel", True),
        ("cancel", False),
        ("replace", False),
    ):
        response = web.get(URL.format(action), {"orderId": pending["orderId"]})
        assert response.status_code == (200 if opens else 409), (action, response.status_code)


def test_a_document_stored_without_allowed_actions_is_judged_by_the_state_machine(
    web: Client, trader: Desk
) -> None:
    working, canceled = trader.client_order(10), _canceled_client(trader)
    for order in (working, canceled):  # as written before documents carried allowedActions
        doc = {k: v for k, v in order.items() if k != "allowedActions"}
        Order.objects.filter(pk=order["orderId"]).update(doc=doc)

    assert web.get(URL.format("cancel"), {"orderId": working["orderId"]}).status_code == 200
    assert web.get(URL.format("cancel"), {"orderId": canceled["orderId"]}).status_code == 409


def test_the_blotter_keeps_no_list_of_statuses() -> None:
    """Forms and page ask allowedActions; status names appear only as the domains' enums."""
    import re
    from pathlib import Path

    from executions.enums import ExecStatus
    from oms.orders.enums import OrdStatus
    from oms.quotes.enums import QuoteRequestStatus, QuoteStatus

    root = Path(__file__).resolve().parents[1]
    names = {s.value for enum in (OrdStatus, ExecStatus, QuoteRequestStatus, QuoteStatus) for s in enum}
    alternatives = "|".join(sorted(names))
    quoted = re.compile(rf"""["']({alternatives})["']""")
    files = [
        *root.glob("blotter/**/*.py"),
        *root.glob("static/blotter/*.js"),
        *root.glob("templates/blotter/**/*.html"),
    ]
    assert len(files) > 20
    found = {str(f.relative_to(root)): quoted.findall(f.read_text()) for f in files}
    assert {f: hits for f, hits in found.items() if hits} == {}
