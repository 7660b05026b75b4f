"""Typed state records of the definition aggregates (instruments, limits, rules, controls).

Each is a pydantic model whose fields are its API document (camelCase aliases), so one class is
its codec: `to_api` writes the document (decimals as strings, UTC times), `from_api` reads the
state row's `doc` back. Their events carry the changed fields by API name; `definition_applier`
builds the pure `apply` (a created event, then updates that overwrite the fields they carry).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Annotated, Any, Self, TypeVar

import pydantic
from pydantic import ConfigDict, PlainSerializer
from pydantic.alias_generators import to_camel

from oms.core import ambient
from oms.core.fold import Envelope, event_applier
from oms.core.parsing import dec_str, iso

# decimals as the API writes them everywhere (no exponent, no trailing zeros); times as ISO Z
Dec = Annotated[Decimal, PlainSerializer(lambda d: dec_str(d), return_type=str, when_used="json")]
OptDec = Annotated[
    Decimal | None, PlainSerializer(lambda d: dec_str(d), return_type=str | None, when_used="json")
]
Time = Annotated[dt.datetime, PlainSerializer(lambda t: iso(t), return_type=str, when_used="json")]
OptTime = Annotated[
    dt.datetime | None, PlainSerializer(lambda t: iso(t), return_type=str | None, when_used="json")
]


class Record(pydantic.BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    version: int = 0
    created_at: Time
    updated_at: Time

    def to_api(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, mode="json")

    @classmethod
    def from_api(cls, doc: dict[str, Any]) -> Self:
        return cls.model_validate(doc)


R = TypeVar("R", bound=Record)


def new_id(prefix: str) -> str:
    """A record's id (through `ambient.unique`: a replayed session gets the original's)."""
    return ambient.unique(lambda: f"{prefix}-{uuid.uuid4().hex[:16].upper()}")


def definition_applier(
    cls: type[R], id_field: str, created: str, updates: Iterable[str]
) -> Callable[[R | None, Envelope], R]:
    """apply: `created` makes the record from its data; each update overwrites the fields it carries."""

    def create(env: Envelope) -> R:
        return cls.model_validate(
            {
                **env.data,
                id_field: env.aggregate_id,
                "createdAt": env.recorded_at,
                "updatedAt": env.recorded_at,
            }
        )

    def update(state: R, data: dict[str, Any]) -> None:
        merged = cls.model_validate({**state.to_api(), **data})
        for name in cls.model_fields:
            setattr(state, name, getattr(merged, name))

    return event_applier(created, create, dict.fromkeys(updates, update))
