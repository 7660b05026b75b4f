"""Rules as data: routing and refusal rules, event-sourced like orders, on the topic `rules`.

    CreateRuleCommand   name (unique), priority (lower first; default 100), enabled, when, action
    UpdateRuleCommand   ruleId + any of those (absent fields are kept)
    EnableRuleCommand / DisableRuleCommand   ruleId

Only superusers change rules. `when` is a condition (rules.conditions) and `action` is
`{"handling": "Desk", "reason": ...}` or `{"refuse": true, "reason": ...}`; both are parsed once,
at the edge, into typed values, and every problem answers one 400 whose fields point into the
rule (`when.all[1].op`, `action.reason`). The events (`RuleCreated`, `RuleUpdated`,
`RuleEnabled`, `RuleDisabled`) go to `rule-events`; `GET /api/queries/rules` is the read side.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Self

from pydantic import Field, PlainValidator

from oms.core.commands import Command, Id, OptId, Version
from oms.core.dispatch import Outcome, command_handler
from oms.core.documents import record_document
from oms.core.errors import ApplicationError, NotFound, ValidationFailed, VersionConflict
from oms.core.eventstore import AggregateType, UnitOfWork, register
from oms.core.readside import register_read
from oms.core.specification import Field as Criterion
from oms.core.specification import Specification
from rules.actors import require_superuser
from rules.conditions import Condition, ConditionError, parse, to_json
from rules.models import Rule, RuleEvent
from rules.records import Record, definition_applier, new_id

TOPIC = "rules"
EVENT_TOPIC = "rule-events"
DEFAULT_PRIORITY = 100
PRIORITY_BOUND = 1_000_000
REASON_MAX = 1000
DESK = "Desk"


class DuplicateRuleName(ApplicationError):
    """Another rule already has this name (a rule's name is its natural key)."""

    code = "duplicate_rule_name"
    http_status = 409


# --- the action -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    """Send the order to the desk (`handling` "Desk") or refuse it (`refuse`), with a reason."""

    reason: str
    handling: str | None = None
    refuse: bool = False

    def to_json(self) -> dict[str, Any]:
        if self.refuse:
            return {"refuse": True, "reason": self.reason}
        return {"handling": self.handling, "reason": self.reason}

    @classmethod
    def parse(cls, raw: Any, path: str = "action") -> Self:
        errors: dict[str, list[str]] = {}
        if not isinstance(raw, dict):
            raise ConditionError(
                {path: ['Must be {"handling": "Desk", "reason": ...} or {"refuse": true, "reason": ...}.']}
            )
        for key in sorted(set(raw) - {"handling", "refuse", "reason"}, key=str):
            errors[f"{path}.{key}"] = ["Unknown key: an action has handling or refuse, and reason."]
        if ("handling" in raw) == ("refuse" in raw):
            errors[path] = ["Exactly one of handling or refuse."]
        elif "handling" in raw and raw["handling"] != DESK:
            errors[f"{path}.handling"] = ['Must be "Desk" (orders no rule matches are placed automatically).']
        elif "refuse" in raw and raw["refuse"] is not True:
            errors[f"{path}.refuse"] = ["Must be true."]
        reason = raw.get("reason")
        if not isinstance(reason, str) or not reason.strip() or len(reason) > REASON_MAX:
            errors[f"{path}.reason"] = [f"Required: 1 to {REASON_MAX} characters the desk reads."]
        if errors:
            raise ConditionError(errors)
        assert isinstance(reason, str)
        return cls(reason=reason, handling=raw.get("handling"), refuse="refuse" in raw)


# --- typed fields ---------------------------------------------------------------------------------


def _when(raw: Any) -> Condition:
    try:
        return parse(raw)
    except ConditionError as exc:
        raise ValueError(str(exc)) from None


def _action(raw: Any) -> Action:
    try:
        return Action.parse(raw)
    except ConditionError as exc:
        raise ValueError(str(exc)) from None


def _opt(parse_one: Any) -> Any:
    return lambda raw: None if raw is None else parse_one(raw)


def _priority(raw: Any) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or abs(raw) > PRIORITY_BOUND:
        raise ValueError(f"Must be an integer between -{PRIORITY_BOUND} and {PRIORITY_BOUND}.")
    return int(raw)


def _flag(raw: Any) -> bool:
    if not isinstance(raw, bool):
        raise ValueError("Must be true or false.")
    return raw


# Any: the values are typed by the validators (a Condition tree, an Action), not by pydantic
When = Annotated[Any, PlainValidator(_when)]
OptWhen = Annotated[Any, PlainValidator(_opt(_when))]
RuleAction = Annotated[Any, PlainValidator(_action)]
OptAction = Annotated[Any, PlainValidator(_opt(_action))]
Priority = Annotated[int, PlainValidator(_priority)]
OptPriority = Annotated[int | None, PlainValidator(_opt(_priority))]
Flag = Annotated[bool, PlainValidator(_flag)]
OptFlag = Annotated[bool | None, PlainValidator(_opt(_flag))]


class _RuleCommand(Command):
    @classmethod
    def parse(cls, raw: Any) -> Self:
        """One 400 for the whole rule, with the condition's and the action's problems at their
        paths (`when.any[0].value`) instead of one message for the field."""
        try:
            return super().parse(raw)
        except ValidationFailed as exc:
            fields = dict(exc.fields)
            for key, parse_one in (("when", parse), ("action", Action.parse)):
                if key in fields and isinstance(raw, dict) and raw.get(key) is not None:
                    try:
                        parse_one(raw[key])
                    except ConditionError as detail:
                        del fields[key]
                        fields.update(detail.errors)
            raise ValidationFailed(
                f"invalid {cls.command_type()}: {', '.join(sorted(fields))}", fields=fields
            ) from None


class CreateRuleCommand(_RuleCommand):
    name: Id
    priority: Priority = DEFAULT_PRIORITY
    enabled: Flag = True
    when: When
    action: RuleAction


class UpdateRuleCommand(_RuleCommand):
    rule_id: Id = Field(alias="ruleId")
    name: OptId = None
    priority: OptPriority = None
    enabled: OptFlag = None
    when: OptWhen = None
    action: OptAction = None
    expected_version: Version = Field(None, alias="expectedVersion")


class EnableRuleCommand(Command):
    rule_id: Id = Field(alias="ruleId")
    expected_version: Version = Field(None, alias="expectedVersion")


class DisableRuleCommand(Command):
    rule_id: Id = Field(alias="ruleId")
    expected_version: Version = Field(None, alias="expectedVersion")


COMMANDS = (CreateRuleCommand, UpdateRuleCommand, EnableRuleCommand, DisableRuleCommand)


# --- the aggregate --------------------------------------------------------------------------------


class RuleState(Record):
    rule_id: str
    name: str
    priority: int
    enabled: bool
    when: dict[str, Any]
    action: dict[str, Any]


RULE: AggregateType[RuleState] = register(
    AggregateType(
        name="rule",
        topic=EVENT_TOPIC,
        state_model=Rule,
        event_model=RuleEvent,
        apply=definition_applier(
            RuleState, "ruleId", "RuleCreated", ["RuleUpdated", "RuleEnabled", "RuleDisabled"]
        ),
        to_api=RuleState.to_api,
        document=record_document(
            RuleState,
            "RuleState",
            help={
                "priority": "lower first",
                "when": "the condition (see CreateRuleCommand)",
                "action": '{"handling": "Desk", "reason"} or {"refuse": true, "reason"}',
            },
        ),
        from_row=lambda row: RuleState.from_api(row.doc),
    )
)
EVENT_TYPES = ("RuleCreated", "RuleUpdated", "RuleEnabled", "RuleDisabled")


class RuleSpecification(Specification):
    fields = {
        "rule_id": Criterion("rule_id", "in", param="ruleId"),
        "name": Criterion("name", "in"),
    }
    orderings = {"priority": "priority", "name": "name", "updatedAt": "updated_at"}
    default_ordering = ("priority", "name")
    id_column = "rule_id"


RULES = register_read(RULE, path="rules", specification=RuleSpecification)


# --- handlers -------------------------------------------------------------------------------------


def _definition(name: str, priority: int, enabled: bool, when: Condition, action: Action) -> dict[str, Any]:
    return {
        "name": name,
        "priority": priority,
        "enabled": enabled,
        "when": to_json(when),
        "action": action.to_json(),
    }


def _name_taken(name: str) -> DuplicateRuleName:
    return DuplicateRuleName(
        f"a rule named {name} already exists", fields={"name": ["Another rule has this name."]}
    )


@command_handler(TOPIC, CreateRuleCommand)
def rule_create(
    uow: UnitOfWork,
    *,
    name: str,
    when: Condition,
    action: Action,
    priority: int = DEFAULT_PRIORITY,
    enabled: bool = True,
) -> Outcome:
    require_superuser(uow.ctx.actor, "rules")
    data = _definition(name, priority, enabled, when, action)
    existing = Rule.objects.select_for_update().filter(name=name).first()
    if existing is not None:
        state = RULE.from_row(existing)
        current = state.to_api()
        if any(current[k] != v for k, v in data.items()):
            raise _name_taken(name)
        return Outcome({"rule": current}, 200, duplicate=True)  # the same rule again: idempotent
    state = uow.emit(RULE, new_id("R"), None, "RuleCreated", data)
    return Outcome({"rule": RULE.to_api(state)}, 201)


def _load(rule_id: str, expected_version: int | None) -> RuleState:
    row = Rule.objects.select_for_update().filter(rule_id=rule_id).first()
    if row is None:
        raise NotFound(f"no rule {rule_id}", fields={"ruleId": ["No such rule."]})
    state = RULE.from_row(row)
    if expected_version is not None and expected_version != state.version:
        raise VersionConflict(
            f"rule {rule_id} is at version {state.version}, not {expected_version}",
            fields={"expectedVersion": [f"Current version is {state.version}."]},
        )
    return state


def _change(uow: UnitOfWork, state: RuleState, event: str, fields: dict[str, Any]) -> Outcome:
    current = state.to_api()
    changed = {k: v for k, v in fields.items() if current.get(k) != v}
    if (
        "name" in changed
        and Rule.objects.filter(name=changed["name"]).exclude(rule_id=state.rule_id).exists()
    ):
        raise _name_taken(changed["name"])
    if changed:
        state = uow.emit(RULE, state.rule_id, state, event, changed)
    return Outcome({"rule": RULE.to_api(state)}, 200, duplicate=not changed)


@command_handler(TOPIC, UpdateRuleCommand)
def rule_update(
    uow: UnitOfWork,
    *,
    rule_id: str,
    name: str | None = None,
    priority: int | None = None,
    enabled: bool | None = None,
    when: Condition | None = None,
    action: Action | None = None,
    expected_version: int | None = None,
) -> Outcome:
    require_superuser(uow.ctx.actor, "rules")
    state = _load(rule_id, expected_version)
    fields: dict[str, Any] = {}
    if name is not None:
        fields["name"] = name
    if priority is not None:
        fields["priority"] = priority
    if enabled is not None:
        fields["enabled"] = enabled
    if when is not None:
        fields["when"] = to_json(when)
    if action is not None:
        fields["action"] = action.to_json()
    return _change(uow, state, "RuleUpdated", fields)


@command_handler(TOPIC, EnableRuleCommand)
def rule_enable(uow: UnitOfWork, *, rule_id: str, expected_version: int | None = None) -> Outcome:
    require_superuser(uow.ctx.actor, "rules")
    return _change(uow, _load(rule_id, expected_version), "RuleEnabled", {"enabled": True})


@command_handler(TOPIC, DisableRuleCommand)
def rule_disable(uow: UnitOfWork, *, rule_id: str, expected_version: int | None = None) -> Outcome:
    require_superuser(uow.ctx.actor, "rules")
    return _change(uow, _load(rule_id, expected_version), "RuleDisabled", {"enabled": False})
