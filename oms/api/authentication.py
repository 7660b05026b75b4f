"""Token authentication without a database round trip on every request.

DRF's TokenAuthentication reads the token and its user (one query) on every request, and the
permission check then reads the user's groups (a second one, `oms.core.access.roles_of`). On the
read API that is two of a GET's three queries. Here a token seen in the last
OMS_TOKEN_CACHE_SECONDS (default 5) is answered from the process's memory with the user and its
roles as they were then: a revoked token, a deactivated user or a changed role takes effect
within that many seconds (0 turns the cache off). Each request gets its own copy of the user.
"""

from __future__ import annotations

import copy
import threading
import time
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models.signals import m2m_changed, post_delete, post_save
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

from oms.core.access import roles_of

_MAX_ENTRIES = 10_000


class CachedTokenAuthentication(TokenAuthentication):
    _cache: dict[str, tuple[float, Any, Any]] = {}  # key -> (expires at, user, token)
    _lock = threading.Lock()

    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        ttl = float(getattr(settings, "OMS_TOKEN_CACHE_SECONDS", 5))
        now = time.monotonic()
        hit = self._cache.get(key) if ttl > 0 else None
        if hit is not None and hit[0] > now:
            return copy.copy(hit[1]), hit[2]
        user, token = super().authenticate_credentials(key)  # raises AuthenticationFailed
        if ttl > 0:
            roles_of(user)  # read the roles once, kept on the cached user
            with self._lock:
                if len(self._cache) >= _MAX_ENTRIES:
                    self._cache.clear()
                self._cache[key] = (now + ttl, user, token)
            return copy.copy(user), token
        return user, token

    @classmethod
    def forget(cls) -> None:
        with cls._lock:
            cls._cache.clear()


def _forget_tokens(**_: Any) -> None:
    """A change made in this process (a token deleted, a user or its groups changed) is seen at
    once here; other processes see it within the time-to-live."""
    CachedTokenAuthentication.forget()


post_delete.connect(_forget_tokens, sender=Token, dispatch_uid="oms-token-cache-delete")
post_save.connect(_forget_tokens, sender=User, dispatch_uid="oms-token-cache-user")
post_delete.connect(_forget_tokens, sender=User, dispatch_uid="oms-token-cache-user-delete")
m2m_changed.connect(_forget_tokens, sender=User.groups.through, dispatch_uid="oms-token-cache-groups")
