"""Limits: `SetLimitsCommand` on `limits` (superuser), event-sourced; `GET /api/queries/limits`.

A limit row is one scope (`account`, `symbol`, either may be "*"). The command sets the fields it
carries (null clears one) and keeps the others. For an order, each field comes from the most
specific scope that sets it: account+symbol, then account, then symbol, then "*".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from pydantic import Field

from oms.core.commands import Command, Id, OptQty
from oms.core.dispatch import Outcome, command_handler
from oms.core.documents import record_document
from oms.core.eventstore import AggregateType, UnitOfWork, register
from oms.core.readside import register_read
from oms.core.specification import Field as Criterion
from oms.core.specification import Specification
from rules.actors import require_superuser
from rules.models import Limit, LimitEvent
from rules.records import OptDec, Record, definition_applier, new_id
from rules.reference import Snapshot, current

TOPIC = "limits"
EVENT_TOPIC = "limit-events"
ANY = "*"

# API name -> Python name of the limit fields (every one optional, null = not set at this scope)
LIMIT_FIELDS = {
    "maxOrderQty": "max_order_qty",
    "maxOrderNotional": "max_order_notional",
    "priceCollarPct": "price_collar_pct",
    "allowMarketOrders": "allow_market_orders",
    "maxOpenNotional": "max_open_notional",
    "maxOrdersPerSecond": "max_orders_per_second",
    "maxCancelReplacePerMinute": "max_cancel_replace_per_minute",
}


class LimitState(Record):
    limit_id: str
    account: str
    symbol: str
    max_order_qty: OptDec = None
    max_order_notional: OptDec = None
    price_collar_pct: OptDec = None
    allow_market_orders: bool | None = None
    max_open_notional: OptDec = None
    max_orders_per_second: int | None = None
    max_cancel_replace_per_minute: int | None = None


class SetLimitsCommand(Command):
    account: Id
    symbol: Id
    max_order_qty: OptQty = Field(None, alias="maxOrderQty")
    max_order_notional: OptQty = Field(None, alias="maxOrderNotional")
    price_collar_pct: OptQty = Field(None, alias="priceCollarPct")
    allow_market_orders: bool | None = Field(None, alias="allowMarketOrders")
    max_open_notional: OptQty = Field(None, alias="maxOpenNotional")
    max_orders_per_second: int | None = Field(None, alias="maxOrdersPerSecond", ge=1)
    max_cancel_replace_per_minute: int | None = Field(None, alias="maxCancelReplacePerMinute", ge=1)


LIMIT: AggregateType[LimitState] = register(
    AggregateType(
        name="limit",
        topic=EVENT_TOPIC,
        state_model=Limit,
        event_model=LimitEvent,
        apply=definition_applier(LimitState, "limitId", "LimitsSet", ["LimitsChanged"]),
        to_api=LimitState.to_api,
        document=record_document(LimitState, "LimitState"),
        from_row=lambda row: LimitState.from_api(row.doc),
    )
)


class LimitSpecification(Specification):
    fields = {
        "limit_id": Criterion("limit_id", "in", param="limitId"),
        "account": Criterion("account", "in"),
        "symbol": Criterion("symbol", "in"),
    }
    orderings = {"account": "account", "symbol": "symbol", "updatedAt": "updated_at"}
    default_ordering = ("account", "symbol", "limit_id")
    id_column = "limit_id"


LIMITS = register_read(LIMIT, path="limits", specification=LimitSpecification)


@command_handler(TOPIC, SetLimitsCommand)
def limits_set(
    uow: UnitOfWork,
    *,
    account: str,
    symbol: str,
    max_order_qty: Decimal | None = None,
    max_order_notional: Decimal | None = None,
    price_collar_pct: Decimal | None = None,
    allow_market_orders: bool | None = None,
    max_open_notional: Decimal | None = None,
    max_orders_per_second: int | None = None,
    max_cancel_replace_per_minute: int | None = None,
) -> Outcome:
    require_superuser(uow.ctx.actor, "limits")
    values = {
        "max_order_qty": max_order_qty,
        "max_order_notional": max_order_notional,
        "price_collar_pct": price_collar_pct,
        "allow_market_orders": allow_market_orders,
        "max_open_notional": max_open_notional,
        "max_orders_per_second": max_orders_per_second,
        "max_cancel_replace_per_minute": max_cancel_replace_per_minute,
    }
    sent = uow.ctx.command  # the fields the command carries: absent ones are kept, null clears
    fields = {api: values[name] for api, name in LIMIT_FIELDS.items() if api in sent}
    row = Limit.objects.select_for_update().filter(account=account, symbol=symbol).first()
    if row is None:
        data = _api({"account": account, "symbol": symbol, **fields})
        state = uow.emit(LIMIT, new_id("L"), None, "LimitsSet", data)
        return Outcome({"limit": LIMIT.to_api(state)}, 201)
    state = LIMIT.from_row(row)
    current = state.to_api()
    changed = {k: v for k, v in _api(fields).items() if current.get(k) != v}
    if changed:
        state = uow.emit(LIMIT, state.limit_id, state, "LimitsChanged", changed)
    return Outcome({"limit": LIMIT.to_api(state)}, 200, duplicate=not changed)


def _api(fields: dict[str, Any]) -> dict[str, Any]:
    probe = LimitState.model_validate(
        {
            "limitId": "-",
            "account": "-",
            "symbol": "-",
            "createdAt": "2000-01-01T00:00:00Z",
            "updatedAt": "2000-01-01T00:00:00Z",
            **fields,
        }
    ).to_api()
    return {k: probe[k] for k in fields}


# --- the effective limits of an order -------------------------------------------------------------


@dataclass(frozen=True)
class Effective:
    """One limit field for an order: its value and the scope that set it."""

    value: Any
    account: str
    symbol: str


def effective_limits(account: str | None, symbol: str) -> dict[str, Effective]:
    """Per field, the most specific scope's value, from the reference cache (rules.reference)."""
    return resolve(current().limits, account, symbol)


def scopes_of(account: str | None, symbol: str) -> list[tuple[str, str]]:
    """An order's scopes, most specific first: (account, symbol) > (account, *) > (*, symbol) > (*, *)."""
    acct = account or ANY
    return [(acct, symbol), (acct, ANY), (ANY, symbol), (ANY, ANY)]


MEMO_LIMIT = 100_000  # resolved (account, symbol) pairs kept per snapshot before starting over


def limits_of(snapshot: Snapshot, account: str | None, symbol: str) -> Mapping[str, Effective]:
    """`resolve` over the snapshot's limits, once per (account, symbol) and snapshot: the limits
    are the snapshot's, so the answer is current exactly as long as the snapshot is (a moved
    reference version loads a new one). Read-only: every order of the pair shares it."""
    key = ("limits", account, symbol)
    got: Mapping[str, Effective] | None = snapshot.memo.get(key)
    if got is None:
        if len(snapshot.memo) >= MEMO_LIMIT:
            snapshot.memo.clear()
        got = snapshot.memo[key] = MappingProxyType(resolve(snapshot.limits, account, symbol))
    return got


def resolve(
    rows: Mapping[tuple[str, str], Mapping[str, Any]], account: str | None, symbol: str
) -> dict[str, Effective]:
    """Per field, the value of the most specific scope that sets it (not null), with that scope."""
    docs = [(scope, rows.get(scope)) for scope in scopes_of(account, symbol)]
    out: dict[str, Effective] = {}
    for api in LIMIT_FIELDS:
        for scope, doc in docs:
            if doc is not None and doc.get(api) is not None:
                value = doc[api]
                out[api] = Effective(Decimal(value) if isinstance(value, str) else value, *scope)
                break
    return out
