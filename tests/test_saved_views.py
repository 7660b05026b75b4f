"""Saved blotter views (blotter/api.py): per-user grid layouts stored server-side."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from blotter.models import SavedView

URL = "/blotter/api/views"
STATE = {
    "columns": [{"field": "clOrdID", "width": 120, "visible": True}],
    "filters": [{"field": "side", "value": "Buy"}],
    "sorters": [{"column": "createdAt", "dir": "desc"}],
    "quick": "ACME",
}


def logged_in(user: User, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client


def post(client: Client, body: Any) -> Any:
    return client.post(URL, json.dumps(body), content_type="application/json")


def test_save_list_update_delete_round_trip(desk_user: User) -> None:
    client = logged_in(desk_user)
    created = post(client, {"view": "orders", "name": "", "state": STATE})
    assert created.status_code == 201, created.content
    assert created.json()["state"] == STATE and created.json()["name"] == ""
    # the same view+name again updates in place
    changed = {**STATE, "quick": "BTC"}
    updated = post(client, {"view": "orders", "name": "", "state": changed})
    assert updated.status_code == 200 and updated.json()["id"] == created.json()["id"]
    post(client, {"view": "orders", "name": "Big sells", "state": STATE})
    post(client, {"view": "executions", "name": "", "state": {"sorters": []}})
    listed = client.get(URL, {"view": "orders"}).json()["results"]
    assert [(v["name"], v["state"]["quick"]) for v in listed] == [("", "BTC"), ("Big sells", "ACME")]
    assert len(client.get(URL).json()["results"]) == 3
    gone = client.delete(f"{URL}/{created.json()['id']}")
    assert gone.status_code == 204
    assert [v["name"] for v in client.get(URL, {"view": "orders"}).json()["results"]] == ["Big sells"]
    assert client.delete(f"{URL}/{created.json()['id']}").status_code == 404


def test_views_are_private_to_their_user(desk_user: User, viewer_user: User) -> None:
    mine = post(logged_in(desk_user), {"view": "orders", "name": "mine", "state": STATE}).json()
    other = logged_in(viewer_user)  # a viewer may keep layouts too: they change nothing in the OMS
    assert other.get(URL).json()["results"] == []
    assert other.delete(f"{URL}/{mine['id']}").status_code == 404
    assert SavedView.objects.filter(pk=mine["id"]).exists()
    assert post(other, {"view": "orders", "name": "mine", "state": {}}).status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"view": "nope", "name": "", "state": {}}, "view"),
        ({"view": "orders", "name": "x" * 65, "state": {}}, "name"),
        ({"view": "orders", "name": 5, "state": {}}, "name"),
        ({"view": "orders", "name": "", "state": []}, "state"),
        ({"view": "orders", "name": "", "state": {"evil": 1}}, "state"),
        ({"view": "orders", "name": "", "state": {"columns": "all"}}, "state"),
        ({"view": "orders", "name": "", "state": {"quick": "x" * 40_000}}, "state"),
        (["not", "an", "object"], "non_field_errors"),
    ],
)
def test_bad_input_is_a_400_with_field_errors_and_stores_nothing(
    desk_user: User, body: Any, field: str
) -> None:
    response = post(logged_in(desk_user), body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_failed" and error["fields"][field]
    assert not SavedView.objects.exists()


def test_malformed_json_and_bad_query(desk_user: User) -> None:
    client = logged_in(desk_user)
    response = client.post(URL, "{nope", content_type="application/json")
    assert response.status_code == 400 and response.json()["error"]["fields"]["non_field_errors"]
    response = client.get(URL, {"view": "bogus"})
    assert response.status_code == 400 and response.json()["error"]["fields"]["view"]
    assert client.put(URL, "{}", content_type="application/json").status_code == 405


def test_anonymous_and_roleless_users_are_refused(db: Any) -> None:
    anon = Client()
    assert anon.get(URL).status_code == 401
    assert post(anon, {"view": "orders", "name": "", "state": {}}).status_code == 401
    nobody = User.objects.create_user(username="nobody", password="x")
    assert logged_in(nobody).get(URL).status_code == 403
    assert not SavedView.objects.exists()


def test_writes_need_the_csrf_token(desk_user: User) -> None:
    client = logged_in(desk_user, csrf=True)
    assert post(client, {"view": "orders", "name": "", "state": {}}).status_code == 403
    client.get("/")  # the page sets the csrftoken cookie
    token = client.cookies["csrftoken"].value
    response = client.post(
        URL,
        json.dumps({"view": "orders", "name": "", "state": {}}),
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 201
