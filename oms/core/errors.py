"""Application errors: one class per stable error code of the API contract.

Pure Python (no Django), so the domain core can raise them; `oms.api.errors` maps them to the
contract's error shape `{"error": {"code", "message", "fields"}}` in one place.
"""

from __future__ import annotations


class ApplicationError(Exception):
    code = "application_error"
    http_status = 400

    def __init__(self, message: str, *, fields: dict[str, list[str]] | None = None, **extra: object):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
        self.extra = extra

    def as_dict(self) -> dict[str, dict[str, object]]:
        body: dict[str, object] = {"code": self.code, "message": self.message, "fields": self.fields}
        body.update(self.extra)
        return {"error": body}


class ValidationFailed(ApplicationError):
    code = "validation_failed"
    http_status = 400


class NotFound(ApplicationError):
    code = "not_found"
    http_status = 404


class InvalidTransition(ApplicationError):
    """The command is not allowed in the object's current state (names from and to)."""

    code = "invalid_transition"
    http_status = 409

    def __init__(self, current: str, trigger: str, message: str | None = None):
        super().__init__(
            message or f"{trigger} is not allowed when {current}", current=current, trigger=trigger
        )


class VersionConflict(ApplicationError):
    code = "version_conflict"
    http_status = 409


class Contended(VersionConflict):
    """An optimistic attempt met a concurrent change (a stale cached state, a claimed key, a row
    written meanwhile): nothing was written, and dispatch retries once with locks. Outside
    dispatch it is the 409 of any other version conflict."""


class RuleRefused(ApplicationError):
    code = "rule_refused"
    http_status = 422

    def __init__(self, rule: str, message: str, *, fields: dict[str, list[str]] | None = None):
        super().__init__(message, fields=fields, rule=rule)
        self.rule = rule


class IdempotencyKeyReused(ApplicationError):
    code = "idempotency_key_reused"
    http_status = 422
