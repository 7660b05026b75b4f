"""The API's permission class over the core's roles (`oms.core.access`)."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission

from oms.core.access import can_command, can_read


class ReadOrDeskCommand(BasePermission):
    message = "Your role does not allow this: reading needs 'viewer' or 'desk', commands need 'desk'."

    def has_permission(self, request: Any, view: Any) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        if request.method in SAFE_METHODS:
            return can_read(request.user)
        return can_command(request.user)
