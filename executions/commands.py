"""The fields each execution command takes (with commandType and expectedVersion).

Declared once, next to the parsers in `executions/services.py`: any other field is refused 400
by the command bus before a handler runs, and never stored.
"""

from __future__ import annotations

from oms.core.parsing import declare_fields

FIELDS: dict[str, tuple[str, ...]] = {
    "ExecuteOrderCommand": ("orderId", "execID", "lastQty", "lastPx", "venue", "transactTime", "text"),
    "CorrectExecutionCommand": ("executionId", "lastQty", "lastPx", "text"),
    "BustExecutionCommand": ("executionId", "text"),
    "AllocateExecutionCommand": ("executionId", "orderId", "text"),
    "RejectExecutionCommand": ("executionId", "text"),
}
declare_fields(FIELDS)
