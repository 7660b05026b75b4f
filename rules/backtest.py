"""Backtest of a rule: which of the last client orders would its condition have matched?

    POST /api/commands/rules/backtest   {"when": ..., "action"?: ..., "name"?, "priority"?,
                                         "enabled"?, "limit"?: 500}
    -> {"matched": n, "of": m, "orders": [orderId, ...]}

The rule is not saved and nothing is written. Each order is seen as it was created: its terms,
the handling its client requested (null when none) and `timeOfDay` its creation time; the rule's
condition alone decides (the other rules' priorities are not applied: the question is what this
condition selects). The orders app registers where the last client orders come from, so the
rules engine knows no order model.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from oms.core.errors import ValidationFailed
from rules.active import Multipliers
from rules.conditions import ConditionError, Facts, compile_condition, fields_used, parse
from rules.rulebook import Action, CreateRuleCommand

DEFAULT_LIMIT = 500
MAX_LIMIT = 5000

# (orderId, the order's terms by API name with the requested `handling`, createdAt), newest first
PastOrder = tuple[str, Mapping[str, Any], dt.datetime]
ClientOrders = Callable[[int], list[PastOrder]]
_sources: list[ClientOrders] = []


def register_client_orders(source: ClientOrders) -> ClientOrders:
    _sources[:] = [source]
    return source


_ACCEPTED = frozenset({"commandType", "name", "priority", "enabled", "when", "action", "limit"})


def _parse(body: Any, limit_param: str | None) -> tuple[Any, int]:
    if not isinstance(body, Mapping):
        raise ValidationFailed(
            "the rule must be a JSON object", fields={"non_field_errors": ["Expected a JSON object."]}
        )
    errors: dict[str, list[str]] = {}
    for key in sorted(set(body) - _ACCEPTED, key=str):
        errors[str(key)[:64]] = ["Unknown field: a backtest takes a rule (when, action ...) and limit."]
    if body.get("commandType") not in (None, CreateRuleCommand.command_type()):
        errors["commandType"] = ["Only CreateRuleCommand (or none)."]
    condition = None
    if body.get("when") is None:
        errors["when"] = ["This field is required."]
    else:
        try:
            condition = parse(body["when"])
        except ConditionError as exc:
            errors.update(exc.errors)
    if body.get("action") is not None:
        try:
            Action.parse(body["action"])
        except ConditionError as exc:
            errors.update(exc.errors)
    raw_limit = body.get("limit", limit_param)
    limit = DEFAULT_LIMIT
    if raw_limit is not None:
        try:
            limit = int(raw_limit) if not isinstance(raw_limit, bool | float) else -1
        except (TypeError, ValueError):
            limit = -1
        if not 1 <= limit <= MAX_LIMIT:
            errors["limit"] = [f"Must be an integer from 1 to {MAX_LIMIT}."]
    if errors:
        raise ValidationFailed(f"invalid backtest: {', '.join(sorted(errors))}", fields=errors)
    return condition, limit


def backtest(body: Any, *, limit_param: str | None = None) -> dict[str, Any]:
    condition, limit = _parse(body, limit_param)
    matches = compile_condition(condition)
    orders = _sources[0](limit) if _sources else []
    multipliers = Multipliers.load() if "notional" in fields_used(condition) else Multipliers()
    matched = [
        order_id
        for order_id, order, created_at in orders
        if matches(
            Facts(
                order,
                at=created_at,
                multiplier=lambda o=order: multipliers.of(o.get("venue"), o.get("symbol")),  # type: ignore[misc]  # a default argument binds the loop's order; mypy refuses lambda defaults
            )
        )
    ]
    return {"matched": len(matched), "of": len(orders), "orders": matched}
