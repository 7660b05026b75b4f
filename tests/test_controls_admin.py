"""The venues, controls and kill-switch records in Django admin: lists, filters, and each change page
with its event history; a superuser registers a venue through the admin (UpsertVenueCommand)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from rules.models import CancelAll, CancelAllEvent, Control, ControlEvent, Venue, VenueEvent
from tests.controls_support import ok, venue

pytestmark = pytest.mark.django_db


@pytest.fixture
def site(admin_user: Any, boss: Any, desk: Any) -> Client:
    venue(boss, "SIM")
    ok(
        desk,
        "controls",
        {"commandType": "EngageSafeModeCommand", "scope": "venue", "key": "SIM", "reason": "drill"},
    )
    ok(desk, "controls", {"commandType": "CancelAllCommand", "scope": "venue", "key": "SIM"})
    client = Client()
    client.force_login(admin_user)
    return client


def page(model: type, view: str = "", pk: Any = None) -> str:
    base = f"/admin/rules/{model._meta.model_name}/"
    return f"{base}{pk}/{view}/" if pk is not None else base


@pytest.mark.parametrize(
    ("model", "params", "shown"),
    [
        (Venue, {"feed__exact": "Down"}, "SIM"),
        (Control, {"active__exact": "1", "kind__exact": "SafeMode"}, "SafeMode"),
        (CancelAll, {"scope__exact": "venue"}, "SIM"),
        (VenueEvent, {"type": "VenueRegistered"}, "VenueRegistered"),
        (ControlEvent, {"type": "SafeModeEngaged"}, "SafeModeEngaged"),
        (CancelAllEvent, {}, "CancelAllExecuted"),
    ],
)
def test_the_lists_load_with_their_filters(
    site: Client, model: type, params: dict[str, str], shown: str
) -> None:
    response = site.get(page(model), params)
    assert response.status_code == 200
    assert shown in response.content.decode()


@pytest.mark.parametrize(
    ("model", "types"),
    [(Venue, ["VenueRegistered"]), (Control, ["SafeModeEngaged"]), (CancelAll, ["CancelAllExecuted"])],
)
def test_each_change_page_shows_its_history(site: Client, model: Any, types: list[str]) -> None:
    obj = model.objects.get()
    html = site.get(page(model, "change", obj.pk)).content.decode()
    assert 'class="oms-history"' in html
    for event_type in types:
        assert event_type in html
    assert site.get(page(model, "history", obj.pk)).status_code == 200


def test_a_superuser_registers_a_venue_in_admin_through_its_command(site: Client) -> None:
    response = site.post(
        page(Venue) + "add/", {"venue": "BINANCE", "adapter": "ccxt:binance", "mode": "Live"}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    row = Venue.objects.get(venue="BINANCE")
    assert (row.adapter, row.mode, row.armed, row.feed, row.version) == (
        "ccxt:binance",
        "Live",
        False,
        "Down",
        1,
    )
    assert VenueEvent.objects.get(aggregate_id=row.pk).actor == "boss"
