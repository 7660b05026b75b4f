"""The blotter's polish, server side: what the page is given to say things plainly (tick sizes, review
reasons in words), the fill form that waits for the venue's acceptance and warns of an overfill
before it is sent, and the login page that says where the demo logins come from. The page's own
behaviour is tested in a real browser (tests/browser/test_blotter_polish.py)."""

from __future__ import annotations

import json
import re
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from blotter.demo import DEMO_USERS, demo_users_present
from executions import admin as executions_admin
from executions.enums import REVIEW_REASON_TEXT, ReviewReason
from oms.core import eventfeed
from oms.core.dispatch import dispatch
from tests.lifecycle import Desk

pytestmark = pytest.mark.django_db

URL = "/blotter/forms/{}/"


@pytest.fixture
def web(desk_user: User) -> Client:
    client = Client()
    client.force_login(desk_user)
    return client


def page_config(client: Client) -> dict[str, Any]:
    html = client.get("/").content.decode()
    match = re.search(r'<script id="blotter-config" type="application/json">(.*?)</script>', html, re.S)
    assert match, html[:500]
    config: dict[str, Any] = json.loads(match.group(1))
    return config


def upsert_instrument(venue: str, symbol: str, tick: str) -> None:
    body = {
        "commandType": "UpsertInstrumentCommand",
        "venue": venue,
        "symbol": symbol,
        "kind": "Equity",
        "tickSize": tick,
        "lotSize": "1",
    }
    dispatch("instruments", body, actor="system:test")


def inputs(html: str, name: str) -> dict[str, str]:
    """The attributes of the form's input `name`."""
    tag = re.search(rf'<input[^>]*name="{name}"[^>]*>', html)
    assert tag, html
    return dict(re.findall(r'([\w-]+)="([^"]*)"', tag.group(0)))


# --- what the page is given ----------------------------------------------------------------------
def test_the_page_gets_each_instruments_tick_and_the_review_reasons_in_words(web: Client) -> None:
    upsert_instrument("XNAS", "TICKY", "0.050")
    upsert_instrument("MANUAL", "TICKY", "0.01")

    config = page_config(web)

    assert config["ticks"]["XNAS"]["TICKY"] == "0.05"
    assert config["ticks"]["MANUAL"]["TICKY"] == "0.01"
    assert config["reviewReasons"] == {str(k): v for k, v in REVIEW_REASON_TEXT.items()}
    assert set(config["reviewReasons"]) == {r.value for r in ReviewReason}


def test_the_admin_and_the_blotter_share_one_text_of_the_review_reasons() -> None:
    # the admin's review queue renders from the same mapping the page config carries
    html = str(executions_admin.reasons_html([ReviewReason.OVERFILL.value]))
    assert REVIEW_REASON_TEXT[ReviewReason.OVERFILL] in html.replace("&#x27;", "'")


def test_an_execution_form_names_its_review_reasons_in_words(web: Client, trader: Desk) -> None:
    held = trader.execute(trader.venue_order(5), 6)["execution"]  # an overfill: held
    page = web.get(URL.format("exec-allocate"), {"executionId": held["executionId"]})
    assert page.status_code == 200
    summary = page.context["form"].summary()
    assert REVIEW_REASON_TEXT[ReviewReason.OVERFILL] in summary
    assert "overfill" not in summary  # not the code


# --- no fill before the venue accepted the order -------------------------------------------------------
def test_a_fill_is_refused_on_an_order_the_venue_has_not_accepted(web: Client, trader: Desk) -> None:
    pending = trader.venue_order(10, accept=False)
    assert pending["status"] == "PendingNew"
    assert "fill" not in pending["allowedActions"]

    shown = web.get(URL.format("fill"), {"orderId": pending["orderId"]})
    assert shown.status_code == 409
    assert shown.json()["error"]["code"] == "not_applicable"

    before = eventfeed.count_events_after(0)
    forged = web.post(
        URL.format("fill"),
        {"orderId": pending["orderId"], "token": "e" * 32, "lastQty": "1", "lastPx": "10"},
    )
    assert forged.status_code == 400
    assert eventfeed.count_events_after(0) == before

    accepted = trader.do("AcceptOrderCommand", pending)
    assert "fill" in accepted["allowedActions"]
    assert web.get(URL.format("fill"), {"orderId": pending["orderId"]}).status_code == 200


def test_a_stored_pending_new_document_that_still_lists_fill_is_refused_in_words(
    web: Client, trader: Desk
) -> None:
    from oms.orders.models import Order

    pending = trader.venue_order(10, accept=False)
    # as written before the fill waited for the acknowledgement
    Order.objects.filter(pk=pending["orderId"]).update(
        doc={**pending, "allowedActions": [*pending["allowedActions"], "fill"]}
    )
    shown = web.get(URL.format("fill"), {"orderId": pending["orderId"]})
    assert shown.status_code == 409
    assert "has not accepted" in shown.json()["error"]["message"]


# --- the overfill warning's figures ------------------------------------------------------------------
def test_the_fill_form_carries_what_the_order_can_still_take(web: Client, trader: Desk) -> None:
    market = trader.venue_order(10)
    trader.fill(market, 4)

    html = web.get(URL.format("fill"), {"orderId": market["orderId"]}).content.decode()

    attrs = inputs(html, "lastQty")
    assert attrs["data-warn-above"] == "6"
    assert REVIEW_REASON_TEXT[ReviewReason.OVERFILL] in attrs["data-warn-text"].replace("&#x27;", "'")


def test_a_slices_fill_is_bounded_by_its_market_order_too(web: Client, trader: Desk) -> None:
    market = trader.venue_order(10)
    trader.fill(market, 7)  # the market order can take 3 more
    slice_ = trader.do("AcceptOrderCommand", trader.child(market, 3))  # room for 3 of its own
    trader.fill(market, 1)  # the market order: room for 2 now, below the slice's 3
    html = web.get(URL.format("fill"), {"orderId": slice_["orderId"]}).content.decode()
    assert inputs(html, "lastQty")["data-warn-above"] == "2"


def test_a_correction_may_use_the_quantity_it_replaces(web: Client, trader: Desk) -> None:
    market = trader.venue_order(10)
    execution = trader.execute(market, 4)["execution"]  # applied: in cumQty already
    html = web.get(URL.format("exec-correct"), {"executionId": execution["executionId"]}).content.decode()
    assert inputs(html, "lastQty")["data-warn-above"] == "10"  # 6 left + the 4 it replaces


def test_an_overfill_sent_anyway_is_still_held_for_review(web: Client, trader: Desk) -> None:
    market = trader.venue_order(5)
    page = web.get(URL.format("fill"), {"orderId": market["orderId"]})
    form = page.context["form"]
    data = {
        "orderId": market["orderId"],
        "token": form.initial["token"],
        "lastQty": "6",
        "lastPx": "10",
        "transactTime": form.initial["transactTime"],
    }
    answer = web.post(URL.format("fill"), data).json()
    assert answer["result"]["execution"]["status"] == "PendingReview"
    assert answer["result"]["execution"]["reviewReasons"] == ["overfill"]
    assert trader.refresh(market)["cumQty"] == "0"


# --- the login page ---------------------------------------------------------------------------------
def test_the_login_page_says_where_demo_logins_come_from_without_passwords_when_none_exist() -> None:
    html = Client().get("/accounts/login/").content.decode()

    assert 'id="demo-logins" data-present="false"' in html
    assert "seed_demo" in html and "only where the demo data was loaded" in html
    for user in DEMO_USERS:
        assert f"<code>{user.username}</code>" in html
        assert user.password not in html


def test_the_login_page_lists_the_demo_logins_where_the_demo_seed_created_them(settings: Any) -> None:
    from django.core.management import call_command

    settings.DEBUG = True
    call_command("seed_demo", "--no-orders", stdout=StringIO())
    assert demo_users_present()

    html = Client().get("/accounts/login/").content.decode()

    assert 'data-present="true"' in html
    assert "manage.py seed_demo" in html and "only in a database loaded with the demo data" in html
    for user in DEMO_USERS:
        assert f"<td><code>{user.username}</code></td><td><code>{user.password}</code></td>" in html
    # and the passwords shown do log in
    assert Client().login(username="desk", password="desk-demo-pw")


def test_a_real_user_named_like_a_demo_login_does_not_reveal_the_demo_passwords() -> None:
    User.objects.create_user("admin", password="a-real-secret")  # not a superuser of the seed
    Group.objects.get_or_create(name="desk")
    html = Client().get("/accounts/login/").content.decode()
    assert not demo_users_present()
    assert "admin-demo-pw" not in html
