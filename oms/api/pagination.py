from __future__ import annotations

from typing import Any

from rest_framework.pagination import LimitOffsetPagination

from oms.core.errors import ValidationFailed

MAX_OFFSET = 2**62  # beyond what SQLite/PostgreSQL accept as OFFSET


def int_param(params: Any, name: str, default: int, lo: int, hi: int) -> int:
    """An integer query parameter in [lo, hi]; anything else is a 400 `validation_failed`."""
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationFailed(f"{name} must be an integer", fields={name: ["Must be an integer."]}) from None
    if not lo <= value <= hi:
        raise ValidationFailed(f"{name} out of range", fields={name: [f"Must be between {lo} and {hi}."]})
    return value


class Pagination(LimitOffsetPagination):
    """`?limit=&offset=` answering {"count", "next", "previous", "results"}.

    A malformed or out-of-range `limit`/`offset` is a 400 (DRF would silently use the default,
    and a huge offset would overflow the database's OFFSET).
    """

    default_limit = 100
    max_limit = 1000

    def get_limit(self, request: Any) -> int:
        return int_param(request.query_params, self.limit_query_param, self.default_limit, 1, self.max_limit)

    def get_offset(self, request: Any) -> int:
        return int_param(request.query_params, self.offset_query_param, 0, 0, MAX_OFFSET)
