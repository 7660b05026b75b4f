"""The validation engine: named, configurable predicates over a command (or any mapping).

A `Rule` is a name, the field it reports on, a predicate and a message. A `Validator` runs its
rules and collects every failure per field (the contract's `fields`), so a client sees all of
its mistakes at once. Rules can be disabled by name (configuration), and added by other apps
(asset-class specific checks) with `Validator.extend`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Generic

from typing_extensions import TypeVar

from oms.core.errors import ValidationFailed

# what the rules read: a command's fields by default, or a record of facts (executions' `Fill`)
T = TypeVar("T", default=Mapping[str, object])


@dataclass(frozen=True)
class Rule(Generic[T]):
    name: str
    field: str
    predicate: Callable[[T], bool]
    message: str
    # A rule that only makes sense once the fields it reads parsed (e.g. price > 0) is skipped
    # when any of those fields already failed.
    requires: tuple[str, ...] = ()


class Validator(Generic[T]):
    def __init__(self, name: str, rules: Iterable[Rule[T]] = (), disabled: Iterable[str] = ()):
        self.name = name
        self.rules: list[Rule[T]] = list(rules)
        self.disabled: set[str] = set(disabled)

    def extend(self, *rules: Rule[T]) -> Validator[T]:
        self.rules.extend(rules)
        return self

    def disable(self, *names: str) -> None:
        self.disabled.update(names)

    def errors(self, data: T, already: Mapping[str, list[str]] | None = None) -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {k: list(v) for k, v in (already or {}).items()}
        for rule in self.rules:
            if rule.name in self.disabled:
                continue
            if any(f in errors for f in rule.requires):
                continue
            if not rule.predicate(data):
                errors.setdefault(rule.field, []).append(rule.message)
        return errors

    def validate(self, data: T, already: Mapping[str, list[str]] | None = None) -> None:
        errors = self.errors(data, already)
        if errors:
            raise ValidationFailed(f"{self.name}: invalid fields: {', '.join(sorted(errors))}", fields=errors)
