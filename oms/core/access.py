"""Roles and access checks, asked in one place by every edge: the API's permission class, the
admin, the blotter's pages, consumer and forms, the review-queue template tag.

Roles are Django groups: `desk` may send commands, `viewer` may only read; superusers hold every
role. Plain functions of the user (no DRF), so the core owns them and the edges above import them.
"""

from __future__ import annotations

from typing import Any

DESK = "desk"
VIEWER = "viewer"


def roles_of(user: Any) -> set[str]:
    if not user or not user.is_authenticated:
        return set()
    cached = getattr(user, "_oms_roles", None)
    if cached is None:
        # superusers hold every role: no query for them
        cached = {DESK, VIEWER} if user.is_superuser else set(user.groups.values_list("name", flat=True))
        user._oms_roles = cached
    return cached


def can_command(user: Any) -> bool:
    return DESK in roles_of(user)


def can_read(user: Any) -> bool:
    return bool(roles_of(user) & {DESK, VIEWER})
