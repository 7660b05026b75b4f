"""The risk view's dead-letter read (blotter/risk_api.py): newest first, unresolved by default,
any reading role, bad parameters answered 400 with per-field messages."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client

from oms.venues.models import VenueDeadLetter

URL = "/blotter/api/dead-letters"


def _letter(n: int, resolved: bool = False) -> VenueDeadLetter:
    return VenueDeadLetter.objects.create(
        venue="SIM",
        task="venues.send_order",
        order_id=f"O{n}",
        cl_ord_id=f"C{n}",
        reason="retries_exhausted",
        error="timeout",
        created_at=dt.datetime(2026, 1, 1, 12, 0, n, tzinfo=dt.UTC),
        resolved=resolved,
    )


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_dead_letters_are_listed_newest_first_unresolved_by_default(viewer_user: Any) -> None:
    first, second, _done = _letter(1), _letter(2), _letter(3, resolved=True)
    response = _client(viewer_user).get(URL)
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["deadLetterId"] for r in results] == [second.pk, first.pk]
    assert results[0] == {
        "deadLetterId": second.pk,
        "venue": "SIM",
        "task": "venues.send_order",
        "orderId": "O2",
        "clOrdID": "C2",
        "reason": "retries_exhausted",
        "error": "timeout",
        "resolved": False,
        "createdAt": "2026-01-01T12:00:02Z",
    }
    every = _client(viewer_user).get(URL, {"resolved": "any", "limit": "2"}).json()["results"]
    assert [r["clOrdID"] for r in every] == ["C3", "C2"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"resolved": "yes"}, "resolved"),
    ],
)
def test_bad_parameters_answer_400_with_the_field(desk_user: Any, params: dict[str, str], field: str) -> None:
    response = _client(desk_user).get(URL, params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert list(error["fields"]) == [field]


@pytest.mark.django_db
def test_dead_letters_need_a_reading_role(django_user_model: Any) -> None:
    assert Client().get(URL).status_code == 401
    nobody = django_user_model.objects.create_user("nobody", password="x")
    assert _client(nobody).get(URL).status_code == 403
    refused = _client(nobody).post(URL)
    assert (refused.status_code, refused.json()["error"]["code"]) == (405, "method_not_allowed")
