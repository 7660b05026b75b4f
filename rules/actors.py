"""Who may change what: the actor of a command is a username (the API's user) or an internal job.

Internal jobs (seed_demo, sync_instruments) act as `system:<job>`: a ':' cannot be part of a
Django username, so no login can pose as one.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import Q

from oms.core.access import DESK
from rules.errors import NotPermitted

SYSTEM_PREFIX = "system:"


def is_superuser(actor: str) -> bool:
    if actor.startswith(SYSTEM_PREFIX):
        return True
    return get_user_model().objects.filter(username=actor, is_superuser=True, is_active=True).exists()


def require_superuser(actor: str, what: str) -> None:
    if not is_superuser(actor):
        raise NotPermitted(f"only a superuser may change {what}")


def is_desk(actor: str) -> bool:
    """A desk trader or a superuser (or the OMS itself): who may engage SAFE mode, arm and cancel all."""
    if actor.startswith(SYSTEM_PREFIX):
        return True
    users = get_user_model().objects.filter(username=actor, is_active=True)
    return users.filter(Q(is_superuser=True) | Q(groups__name=DESK)).exists()


def require_desk(actor: str, what: str) -> None:
    if not is_desk(actor):
        raise NotPermitted(f"only the desk or a superuser may {what}")
