"""Who may act from the blotter: the core's roles (`oms.core.access`), asked in one place.

A viewer sees everything and can act on nothing: the page hides the action buttons when
`can_act` is false, and the form views refuse such users with 403 whatever the page shows.
"""

from __future__ import annotations

from typing import Any

from oms.core.access import can_command, can_read


def can_act(user: Any) -> bool:
    """May this user send commands (new orders, cancels, fills...) from the blotter?"""
    return can_command(user)


def can_view(user: Any) -> bool:
    return can_read(user)
