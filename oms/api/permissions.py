"""Roles are Django groups: `desk` may send commands, `viewer` may only read; superusers do all."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission

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


class ReadOrDeskCommand(BasePermission):
    message = "Your role does not allow this: reading needs 'viewer' or 'desk', commands need 'desk'."

    def has_permission(self, request: Any, view: Any) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        if request.method in SAFE_METHODS:
            return can_read(request.user)
        return can_command(request.user)
