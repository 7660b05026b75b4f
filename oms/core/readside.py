"""The read side of the registered aggregates: list, detail, events and tree, declared once.

A domain app registers, beside its `AggregateType`, how its objects are queried:

    ORDERS = register_read(ORDER, path="orders", specification=OrderSpecification, tree=...)

and the query API generates its views from the registry (`GET /api/queries/<path>`,
`/<id>`, `/<id>/events`, and `/<id>/tree` where there is one), with filters and ordering from
the specification. The lookups here are the only ones: every detail and events read answers
`NotFound` for an unknown id, the same way for every aggregate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.db.models import QuerySet

from oms.core.errors import NotFound
from oms.core.eventstore import AggregateType
from oms.core.specification import Specification

DOC_COLUMN = "doc"  # the state row's copy of the API document, when the model keeps one


@dataclass(frozen=True)
class ReadSide:
    """How the query API reads one aggregate."""

    aggregate: AggregateType[Any]
    specification: type[Specification]  # filters, orderings and the tie-breaking id column
    path: str  # the URL segment: /api/queries/<path> (the command topic's name)
    # the document with its descendants nested under `children`, given the document itself
    tree: Callable[[ReadSide, dict[str, Any]], dict[str, Any]] | None = None
    # the rows the API may show (default: every state row)
    queryset: Callable[[], QuerySet[Any]] | None = None
    # values computed at read time (not events: e.g. a position's unrealized P&L against the
    # book's mid) added to a page of documents; the stored documents and events stay as written
    present: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] | None = None

    @property
    def name(self) -> str:
        return self.aggregate.name

    @property
    def label(self) -> str:
        """How messages name one object: "quote request"."""
        return self.name.replace("_", " ")

    @cached_property
    def id_field(self) -> str:
        """The state row's primary key, which is also the id's name in the URL (`order_id`)."""
        pk = self.aggregate.state_model._meta.pk
        assert pk is not None  # every model has one
        return pk.name

    @cached_property
    def has_doc(self) -> bool:
        return any(f.name == DOC_COLUMN for f in self.aggregate.state_model._meta.concrete_fields)

    def all(self) -> QuerySet[Any]:
        if self.queryset is not None:
            return self.queryset()
        return self.aggregate.state_model._default_manager.all()

    def query(self, spec: Specification) -> QuerySet[Any]:
        """The rows matching `spec`, in its order (ties broken by the id)."""
        return spec.apply(self.all())

    def rows(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        """What a page reads: the stored document alone when there is one (no model instances)."""
        return queryset.values_list(DOC_COLUMN, flat=True) if self.has_doc else queryset

    def document(self, row: Any) -> dict[str, Any]:
        """One of `rows(...)` as the API shows it: the stored document, or the codec's `to_api`."""
        if self.has_doc:
            doc: dict[str, Any] = row  # a row of rows() with a stored document is that document
        else:
            doc = self.aggregate.to_api(self.aggregate.from_row(row))
        return self.present([doc])[0] if self.present is not None else doc

    def documents(self, rows: Iterable[Any]) -> list[dict[str, Any]]:
        """A page of `rows(...)` as the API shows it."""
        if self.present is not None:
            docs = (
                list(rows)
                if self.has_doc
                else [self.aggregate.to_api(self.aggregate.from_row(r)) for r in rows]
            )
            return self.present(docs)
        return list(rows) if self.has_doc else [self.document(row) for row in rows]

    def get(self, object_id: str) -> dict[str, Any]:
        """The document of one object; `NotFound` if there is none."""
        row = self.rows(self.all().filter(pk=object_id)).first()
        if row is None:
            raise NotFound(f"{self.label} {object_id} not found")
        return self.document(row)

    def events(self, object_id: str) -> QuerySet[Any]:
        """The object's events, oldest first (empty for an unknown id: see `require`)."""
        return self.aggregate.event_model._default_manager.filter(aggregate_id=object_id).order_by("version")

    def require(self, object_id: str) -> None:
        """`NotFound` unless the object has a state row; for an id whose `events` are none.

        Every object has at least its creation event, so for a known object the events page's
        own COUNT already answers and nothing more is read: only an empty page asks this.
        """
        if not self.all().filter(pk=object_id).exists():
            raise NotFound(f"{self.label} {object_id} not found")

    def get_tree(self, object_id: str) -> dict[str, Any]:
        if self.tree is None:
            raise NotFound(f"{self.label} has no tree")
        return self.tree(self, self.get(object_id))


_READ: dict[str, ReadSide] = {}


def register_read(
    aggregate: AggregateType[Any],
    *,
    path: str,
    specification: type[Specification],
    tree: Callable[[ReadSide, dict[str, Any]], dict[str, Any]] | None = None,
    queryset: Callable[[], QuerySet[Any]] | None = None,
    present: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] | None = None,
) -> ReadSide:
    """Declare how `aggregate` is queried; the query API serves it at /api/queries/<path>."""
    if not specification.id_column:
        raise ValueError(f"{specification.__name__} needs an id_column for a stable page order")
    read = ReadSide(aggregate, specification, path, tree, queryset, present)
    _READ[aggregate.name] = read
    return read


def read_sides() -> list[ReadSide]:
    return list(_READ.values())


def read_side(name: str) -> ReadSide:
    return _READ[name]
