"""The errors of the rules engine and the trading controls (the API maps them like any other)."""

from __future__ import annotations

from typing import Any

from oms.core.errors import ApplicationError, RuleRefused


class NotPermitted(ApplicationError):
    """The actor's role does not allow this command (e.g. a desk trader changing limits)."""

    code = "permission_denied"
    http_status = 403


class CheckRefused(RuleRefused):
    """A pre-trade check or control refused an order: the contract's `rule` and its `details`.

    `details` holds the numbers that tripped it (limit, value, referencePx ...), as strings for
    decimals. Dispatch's failure hook records every one as an `OrderRefused` event (rules.refusals).
    """

    def __init__(self, rule: str, message: str, details: dict[str, Any] | None = None):
        super().__init__(rule, message)
        self.details = details or {}
        self.extra["details"] = self.details
