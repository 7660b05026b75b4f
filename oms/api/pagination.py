from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db.models import Q, QuerySet
from django.db.models.query import FlatValuesListIterable
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from oms.core.errors import ValidationFailed

MAX_OFFSET = 2**62  # beyond what SQLite/PostgreSQL accept as OFFSET
CURSOR_PARAM = "cursor"
COUNT_PARAM = "count"


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


def _bad_cursor(why: str = "Not a cursor this list gave out.") -> ValidationFailed:
    return ValidationFailed("invalid cursor", fields={CURSOR_PARAM: [why]})


def _encode_value(value: Any) -> list[str]:
    if isinstance(value, dt.datetime):
        return ["t", value.isoformat()]
    if isinstance(value, Decimal):
        return ["d", str(value)]
    if isinstance(value, bool):
        return ["b", "1" if value else "0"]
    if isinstance(value, int):
        return ["i", str(value)]
    if isinstance(value, dt.date):
        return ["a", value.isoformat()]
    return ["s", str(value)]


def _decode_value(item: Any) -> Any:
    if not (isinstance(item, list) and len(item) == 2 and all(isinstance(x, str) for x in item)):
        raise _bad_cursor()
    tag, raw = item
    try:
        if tag == "t":
            parsed = dt.datetime.fromisoformat(raw)
            return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)
        if tag == "d":
            value = Decimal(raw)
            if not value.is_finite():
                raise _bad_cursor()
            return value
        if tag == "b" and raw in ("0", "1"):
            return raw == "1"
        if tag == "i":
            number = int(raw)
            if abs(number) > MAX_OFFSET:
                raise _bad_cursor()
            return number
        if tag == "a":
            return dt.date.fromisoformat(raw)
        if tag == "s":
            return raw
    except (ValueError, InvalidOperation):
        raise _bad_cursor() from None
    raise _bad_cursor()


def encode_cursor(ordering: list[str], key: tuple[Any, ...], backward: bool) -> str:
    """The opaque cursor: the ordering in force, the row's key in it and the direction."""
    payload = {"o": ordering, "k": [_encode_value(v) for v in key], "b": backward}
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, ordering: list[str]) -> tuple[tuple[Any, ...], bool]:
    """(key, backward) of a cursor given out for `ordering`; 400 `validation_failed` otherwise."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise _bad_cursor() from None
    if not isinstance(payload, dict) or set(payload) != {"o", "k", "b"}:
        raise _bad_cursor()
    if payload["o"] != ordering:
        raise _bad_cursor("The cursor belongs to another ordering: start again without it.")
    keys, backward = payload["k"], payload["b"]
    if not isinstance(backward, bool) or not isinstance(keys, list) or len(keys) != len(ordering):
        raise _bad_cursor()
    return tuple(_decode_value(k) for k in keys), backward


def keyset_q(ordering: list[str], key: tuple[Any, ...], backward: bool) -> Q:
    """The rows after `key` in `ordering` (before it when `backward`), each comparison following
    its column's direction. Lexicographic "after" is (c0 > v0) OR (c0 = v0 AND after(rest)); on
    columns that are never null (`_ordering` makes sure) that is the same as

        c0 >= v0 AND NOT (c0 = v0 AND NOT after(rest))

    which is how it is spelled here, for PostgreSQL's planner. The leading range is one it can
    start an index scan at: with the ORs alone it scanned the ordering's index from the newest
    row and filtered every row before the cursor (1.6 s for a page in the middle of 1,000,000
    orders). And the NOT keeps its estimate right: the range plus the ORs counted the range twice,
    the estimate fell to a few hundred rows near the end of a filtered list, and it chose a bitmap
    scan of every remaining row and a sort (450 ms). docs/benchmarks.md §45."""
    term, value = ordering[0], key[0]
    column = term.lstrip("-")
    after = term.startswith("-") == backward  # ascending forward, or descending backward
    if len(ordering) == 1:
        return Q(**{f"{column}__{'gt' if after else 'lt'}": value})
    rest = keyset_q(ordering[1:], key[1:], backward)
    return Q(**{f"{column}__{'gte' if after else 'lte'}": value}) & ~(Q(**{column: value}) & ~rest)


class Pagination(LimitOffsetPagination):
    """`?limit=&offset=` answering {"count", "next", "previous", "results"}; or, with `cursor`,
    keyset pages whose `next`/`previous` carry an opaque cursor; `count=false` skips the COUNT.

    A malformed or out-of-range `limit`/`offset` is a 400 (DRF would silently use the default,
    and a huge offset would overflow the database's OFFSET). A cursor works for the ordering it
    was given out for, on columns that are never null (the specifications' ordering always ends
    with the unique id); a cursor that does not decode, or with another ordering, is a 400.
    `cursor=` (empty) asks for the first page in cursor mode. Both modes count unless
    `count=false`.
    """

    default_limit = 100
    max_limit = 1000

    count: int | None  # None with count=false
    page_limit = 0
    page_offset = 0
    cursor_mode = False
    has_more = False
    next_cursor: str | None = None
    previous_cursor: str | None = None

    def get_limit(self, request: Any) -> int:
        return int_param(request.query_params, self.limit_query_param, self.default_limit, 1, self.max_limit)

    def get_offset(self, request: Any) -> int:
        return int_param(request.query_params, self.offset_query_param, 0, 0, MAX_OFFSET)

    @staticmethod
    def wants_count(request: Any) -> bool:
        raw = request.query_params.get(COUNT_PARAM)
        if raw in (None, "", "true", "1"):
            return True
        if raw in ("false", "0"):
            return False
        raise ValidationFailed(
            "count must be true or false", fields={COUNT_PARAM: ["Must be true or false."]}
        )

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> list[Any] | None:
        self.request = request
        self.limit = limit = self.page_limit = self.get_limit(request)
        counting = self.wants_count(request)
        self.cursor_mode = CURSOR_PARAM in request.query_params
        if self.cursor_mode:
            self.offset = self.page_offset = 0
            self.count = self.get_count(queryset) if counting else None
            return self._keyset_page(queryset, request.query_params[CURSOR_PARAM])
        self.offset = offset = self.page_offset = self.get_offset(request)
        if counting:
            self.count = self.get_count(queryset)
            if self.count == 0 or offset > self.count:
                return []
            return list(queryset[offset : offset + limit])
        self.count = None
        rows = list(queryset[offset : offset + limit + 1])
        self.has_more = len(rows) > limit
        return rows[:limit]

    def _ordering(self, queryset: QuerySet[Any]) -> list[str]:
        ordering = [str(term) for term in queryset.query.order_by]
        if not ordering:
            raise ValidationFailed(
                "cursor needs an ordered list", fields={CURSOR_PARAM: ["Not supported here."]}
            )
        model = queryset.model
        for term in ordering:
            try:
                nullable = model._meta.get_field(term.lstrip("-")).null
            except FieldDoesNotExist:
                nullable = True
            if nullable:
                raise ValidationFailed(
                    "cursor paging does not support this ordering",
                    fields={
                        CURSOR_PARAM: [f"Not with an ordering on '{term.lstrip('-')}' (it may be null)."]
                    },
                )
        return ordering

    def _keyset_page(self, queryset: QuerySet[Any], cursor: str) -> list[Any]:
        ordering = self._ordering(queryset)
        columns = [term.lstrip("-") for term in ordering]
        backward = False
        if cursor:
            key, backward = decode_cursor(cursor, ordering)
            queryset = queryset.filter(keyset_q(ordering, key, backward))
        if backward:
            queryset = queryset.reverse()
        # the rows and their ordering key: a values_list page is re-read with the key columns
        fields = list(getattr(queryset, "_fields", None) or ())
        flat = queryset._iterable_class is FlatValuesListIterable
        if fields:
            raw = list(queryset.values_list(*fields, *columns)[: self.page_limit + 1])
            width = len(fields)
            pairs = [(r[0] if flat else r[:width], tuple(r[width:])) for r in raw]
        else:
            objects = list(queryset[: self.page_limit + 1])
            pairs = [(o, tuple(getattr(o, c) for c in columns)) for o in objects]
        more = len(pairs) > self.page_limit
        pairs = pairs[: self.page_limit]
        if backward:
            pairs.reverse()
        self.next_cursor = self.previous_cursor = None
        if pairs:
            if more or backward:
                self.next_cursor = encode_cursor(ordering, pairs[-1][1], False)
            if (more and backward) or (cursor and not backward):
                self.previous_cursor = encode_cursor(ordering, pairs[0][1], True)
        return [row for row, _ in pairs]

    def get_next_link(self) -> str | None:
        assert self.request is not None
        url = self.request.build_absolute_uri()
        if self.cursor_mode:
            return replace_query_param(url, CURSOR_PARAM, self.next_cursor) if self.next_cursor else None
        if self.count is None:
            if not self.has_more:
                return None
            url = replace_query_param(url, self.limit_query_param, self.page_limit)
            return replace_query_param(url, self.offset_query_param, self.page_offset + self.page_limit)
        return super().get_next_link()

    def get_previous_link(self) -> str | None:
        if self.cursor_mode:
            assert self.request is not None
            url = self.request.build_absolute_uri()
            return (
                replace_query_param(url, CURSOR_PARAM, self.previous_cursor) if self.previous_cursor else None
            )
        return super().get_previous_link()

    def get_paginated_response(self, data: Any) -> Response:
        return Response(
            {
                "count": self.count,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        shape = super().get_paginated_response_schema(schema)
        shape["properties"]["count"] = {
            "type": "integer",
            "nullable": True,
            "example": 123,
            "description": "How many rows match; null with count=false.",
        }
        return shape

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            *super().get_schema_operation_parameters(view),
            {
                "name": CURSOR_PARAM,
                "required": False,
                "in": "query",
                "description": "Keyset paging: empty for the first page, then the opaque value found "
                "in `next`/`previous` (same cost on any page; `offset` is ignored). A cursor is valid for "
                "the ordering it came with; 400 validation_failed otherwise.",
                "schema": {"type": "string"},
            },
            {
                "name": COUNT_PARAM,
                "required": False,
                "in": "query",
                "description": "false: skip counting (`count` is null). Default true.",
                "schema": {"type": "boolean", "default": True},
            },
        ]
