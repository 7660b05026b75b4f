"""django-filter FilterSets generated from the specification builder.

The FilterSet declares the contract's query parameters (documented in the OpenAPI schema: the
enum of each choice, comma-separated lists, date-times); the query itself is built by the
domain's Specification, the same one the query service and the blotter use, so a filter means
the same thing everywhere. Nothing is declared twice: `filterset_for(OrderSpecification)` derives
one filter per criterion and the `ordering` parameter from the specification's own tables.
"""

from __future__ import annotations

from enum import Enum
from functools import cache
from typing import Any

import django_filters as df
from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend

from oms.core.specification import RANGE_HELP, Field, Specification


class SpecificationFilterBackend(DjangoFilterBackend):
    """django-filter declares and documents the parameters; the Specification parses and filters.

    Running django-filter's form on every request cost about 3 ms (it deep-copies every filter
    to build the form class); the Specification already validates each parameter and answers
    per-field errors, so the request path goes straight to it.
    """

    # request: DRF's Request (django-filter's stubs say HttpRequest, which has no query_params)
    def filter_queryset(self, request: Any, queryset: QuerySet[Any], view: Any) -> QuerySet[Any]:
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is None or not issubclass(filterset_class, SpecFilterSet):
            return super().filter_queryset(request, queryset, view)
        return filterset_class.spec_class.from_params(request.query_params).apply(queryset)


class CharInFilter(df.BaseInFilter, df.CharFilter):
    """Comma-separated values: `symbol=AAA,BBB`."""


class ChoiceInFilter(df.BaseInFilter, df.ChoiceFilter):
    """Comma-separated values of an enum: `status=New,PartiallyFilled`."""


class SpecFilterSet(df.FilterSet):
    spec_class: type[Specification] = Specification

    def specification(self) -> Specification:
        return self.spec_class.from_params(self.data or {})  # the query string; unbound: none

    def filter_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return self.specification().apply(queryset)


def _choices(enum: type[Enum]) -> list[tuple[str, str]]:
    return [(member.value, member.value) for member in enum]


def _filter(f: Field) -> df.Filter:
    many = f.op == "in"
    help_parts = [f.help] if f.help else []
    if f.op == "range":
        return df.CharFilter(help_text=" ".join([*help_parts, RANGE_HELP]))
    if f.op in ("search", "icontains"):
        return df.CharFilter(help_text=" ".join(help_parts) or "A case-insensitive part of the value.")
    if f.choices is not None:  # the schema lists the values (an enum) and what each means
        if many:
            help_parts.append("One or more, comma-separated.")
        cls: type[df.Filter] = ChoiceInFilter if many else df.ChoiceFilter
        return cls(choices=_choices(f.choices), help_text=" ".join(help_parts))
    if f.kind == "datetime":
        return df.IsoDateTimeFilter(help_text=" ".join(help_parts) or "ISO-8601 date-time.")
    if f.kind in ("decimal", "int"):
        return df.NumberFilter(help_text=" ".join(help_parts))
    if many:
        help_parts.append("One or more, comma-separated.")
        return CharInFilter(help_text=" ".join(help_parts))
    return df.CharFilter(help_text=" ".join(help_parts))


@cache
def filterset_for(spec_class: type[Specification]) -> type[SpecFilterSet]:
    """The FilterSet of a specification: one filter per criterion, under its API parameter name,
    and `ordering` (its values from the specification's `orderings`)."""
    declared: dict[str, Any] = {f.param or name: _filter(f) for name, f in spec_class.fields.items()}
    declared["ordering"] = df.CharFilter(
        help_text="Comma-separated fields, '-' for descending: " + ", ".join(spec_class.orderings)
    )
    name = spec_class.__name__.removesuffix("Specification") + "Filter"
    return type(name, (SpecFilterSet,), {"spec_class": spec_class, **declared})
