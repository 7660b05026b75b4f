"""`{% demo_logins as demo %}`: the login page says where demo logins come from (blotter/demo.py)."""

from __future__ import annotations

from typing import Any

from django import template

from blotter.demo import DEMO_USERS, demo_users_present

register = template.Library()


@register.simple_tag
def demo_logins() -> dict[str, Any]:
    """The demo users and whether this database has them: their passwords are shown only then."""
    return {"users": DEMO_USERS, "present": demo_users_present()}
