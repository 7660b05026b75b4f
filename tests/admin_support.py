"""Helpers for the admin tests: staff personas, a logged-in browser client, held executions."""

from __future__ import annotations

import re
from typing import Any

from django.contrib.auth.models import Group, User
from django.test import Client

from tests.lifecycle import Desk

EXECUTIONS = "/admin/executions/execution/"


def staff(username: str, *groups: str, superuser: bool = False) -> User:
    """A user who may log into the admin (`is_staff`), with OMS roles as Django groups."""
    user = User.objects.create_user(
        username=username, password="pw-" + username, is_staff=True, is_superuser=superuser
    )
    for name in groups:
        user.groups.add(Group.objects.get_or_create(name=name)[0])
    return user


def browser(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def limit_market(t: Desk, qty: int = 100, price: str = "10") -> dict[str, Any]:
    """An accepted market order (a limit buy at `price`) under a client order of the same size."""
    return t.venue_order(qty, ordType="Limit", price=price)


def held(t: Desk, order: dict[str, Any] | str, qty: Any, price: Any = "10", **fields: Any) -> dict[str, Any]:
    answer = t.execute(order, qty, price, **fields)
    assert answer["execution"]["status"] == "PendingReview", answer["execution"]
    return answer["execution"]


def hidden(html: str, name: str) -> str:
    """The value of a hidden input of a rendered form."""
    match = re.search(rf'<input type="hidden" name="{name}" value="([^"]*)"', html)
    assert match, f"no hidden input {name}"
    return match.group(1)


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []
