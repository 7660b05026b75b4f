"""Limits in the Django admin: a per-field form that goes through SetLimitsCommand (events with the
admin user as actor, the history on the change page), the command's validation shown on the
form, what an order of the scope gets per field and from which scope, superusers only."""

from __future__ import annotations

from typing import Any

import pytest

from rules.models import Instrument, InstrumentEvent, Limit, LimitEvent
from tests.admin_support import browser, staff
from tests.controls_support import ok, order_body, send

pytestmark = pytest.mark.django_db

LIMITS = "/admin/rules/limit/"
BLANK = {
    "maxOrderQty": "",
    "maxOrderNotional": "",
    "priceCollarPct": "",
    "allowMarketOrders": "",
    "maxOpenNotional": "",
    "maxOrdersPerSecond": "",
    "maxCancelReplacePerMinute": "",
}


@pytest.fixture
def root() -> Any:
    return browser(staff("root", superuser=True))


def test_adding_a_limit_in_the_admin_sends_set_limits_and_binds_orders(root: Any, desk: Any) -> None:
    form = root.get(LIMITS + "add/")
    assert form.status_code == 200
    html = form.content.decode()
    for api in BLANK:
        assert f'name="{api}"' in html, api
    response = root.post(
        LIMITS + "add/",
        {**BLANK, "account": "ACC1", "symbol": "*", "maxOrderQty": "50", "allowMarketOrders": "false"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    row = Limit.objects.get(account="ACC1", symbol="*")
    assert row.doc["maxOrderQty"] == "50" and row.doc["allowMarketOrders"] is False
    event = LimitEvent.objects.get(aggregate_id=row.pk)
    assert (event.type, event.actor, event.command["commandType"]) == (
        "LimitsSet",
        "root",
        "SetLimitsCommand",
    )
    status, js = send(desk, "orders", order_body(orderQty="51"))
    assert status == 422 and js["error"]["rule"] == "max_order_qty"


def test_changing_a_limit_clears_blank_fields_and_keeps_the_history(root: Any) -> None:
    root.post(
        LIMITS + "add/",
        {**BLANK, "account": "*", "symbol": "ACME", "maxOrderQty": "10", "priceCollarPct": "5"},
    )
    row = Limit.objects.get()
    change = root.get(f"{LIMITS}{row.pk}/change/").content.decode()
    assert 'value="10"' in change and 'value="5"' in change  # the current values, per field
    response = root.post(f"{LIMITS}{row.pk}/change/", {**BLANK, "maxOrderQty": "20"})
    assert response.status_code == 302
    row.refresh_from_db()
    assert (row.doc["maxOrderQty"], row.doc["priceCollarPct"], row.version) == ("20", None, 2)
    assert [e.type for e in LimitEvent.objects.filter(aggregate_id=row.pk).order_by("version")] == [
        "LimitsSet",
        "LimitsChanged",
    ]
    page = root.get(f"{LIMITS}{row.pk}/change/").content.decode()
    assert "LimitsChanged" in page  # the newest events under the form
    history = root.get(f"{LIMITS}{row.pk}/history/")
    assert history.status_code == 200 and "LimitsSet" in history.content.decode()


def test_the_form_shows_the_commands_validation_and_writes_nothing(root: Any) -> None:
    response = root.post(LIMITS + "add/", {**BLANK, "account": "*", "symbol": "*", "maxOrdersPerSecond": "0"})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["maxOrdersPerSecond"]
    response = root.post(LIMITS + "add/", {**BLANK, "account": "", "symbol": "*", "maxOrderQty": "1"})
    assert response.status_code == 200 and "account" in response.context["adminform"].form.errors
    assert not Limit.objects.exists() and not LimitEvent.objects.exists()


def test_the_change_page_explains_where_each_field_comes_from(root: Any, boss: Any) -> None:
    body = {"commandType": "SetLimitsCommand"}
    ok(boss, "limits", {**body, "account": "*", "symbol": "*", "maxOrderQty": "1", "maxOpenNotional": "9"})
    ok(boss, "limits", {**body, "account": "*", "symbol": "ACME", "maxOrderQty": "2", "priceCollarPct": "3"})
    ok(boss, "limits", {**body, "account": "ACC1", "symbol": "*", "maxOrderQty": "4"})
    mine = ok(boss, "limits", {**body, "account": "ACC1", "symbol": "ACME", "maxOrdersPerSecond": 5})
    page = root.get(f"{LIMITS}{mine['limit']['limitId']}/change/").content.decode()
    assert "Most specific first: ACC1/ACME &gt; ACC1/* &gt; */ACME &gt; */*" in page
    rows = {
        "maxOrderQty": ("4", "from ACC1/*"),
        "priceCollarPct": ("3", "from */ACME"),
        "maxOpenNotional": ("9", "from */*"),
        "maxOrdersPerSecond": ("5", "set here"),
    }
    for api, (value, where) in rows.items():
        assert f"<tr><td>{api}</td><td>{value}</td><td>{where}</td></tr>" in page, api
    assert "<tr><td>maxOrderNotional</td><td>not set at any scope: no limit</td>" in page


def test_only_superusers_add_or_change_limits_in_the_admin(boss: Any) -> None:
    ok(boss, "limits", {"commandType": "SetLimitsCommand", "account": "*", "symbol": "*", "maxOrderQty": "1"})
    row = Limit.objects.get()
    viewer = browser(staff("watcher", "viewer"))
    assert viewer.get(LIMITS + "add/").status_code == 403
    assert viewer.post(f"{LIMITS}{row.pk}/change/", {**BLANK, "maxOrderQty": "999"}).status_code == 403
    row.refresh_from_db()
    assert row.doc["maxOrderQty"] == "1" and row.version == 1


# --- instruments likewise ---------------------------------------------------------------------

INSTRUMENTS = "/admin/rules/instrument/"
INSTRUMENT = {
    "venue": "SIM",
    "symbol": "XBT",
    "kind": "Perpetual",
    "tick_size": "0.5",
    "lot_size": "1",
    "min_qty": "1",
    "multiplier": "1",
    "enabled": "on",
}


def test_an_instrument_saved_in_the_admin_goes_through_the_command(root: Any) -> None:
    assert root.post(INSTRUMENTS + "add/", INSTRUMENT).status_code == 302
    row = Instrument.objects.get(venue="SIM", symbol="XBT")
    response = root.post(f"{INSTRUMENTS}{row.pk}/change/", {**INSTRUMENT, "tick_size": "0.25"})
    assert response.status_code == 302
    events = InstrumentEvent.objects.filter(aggregate_id=row.pk).order_by("version")
    assert [(e.type, e.actor) for e in events] == [
        ("InstrumentCreated", "root"),
        ("InstrumentUpdated", "root"),
    ]
    row.refresh_from_db()
    assert row.doc["tickSize"] == "0.25"


def test_an_instrument_the_command_refuses_shows_its_errors_on_the_form(root: Any) -> None:
    response = root.post(INSTRUMENTS + "add/", {**INSTRUMENT, "tick_size": "0"})
    assert response.status_code == 200  # the form again, not a 500
    assert response.context["adminform"].form.errors["tick_size"]
    assert not Instrument.objects.exists() and not InstrumentEvent.objects.exists()
