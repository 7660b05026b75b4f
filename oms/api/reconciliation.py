"""Reconciliation's part of the API: the documented shapes of a discrepancy and of a run (added to
the generated query views' schemas: /api/queries/discrepancies, /api/queries/reconciliation-runs)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers as s

from oms.api.views import DOCUMENT_SCHEMAS
from oms.reconciliation.enums import DiscrepancyKind, DiscrepancyStatus, RunTrigger

AnyField = s.Field[Any, Any, Any, Any]


def _serializer(name: str, fields: dict[str, AnyField]) -> type[s.Serializer[Any]]:
    return type(name, (s.Serializer,), dict(fields))


def _str(help_text: str = "") -> s.CharField:
    return s.CharField(required=False, allow_null=True, help_text=help_text)


_STAMPS: dict[str, AnyField] = {
    "version": s.IntegerField(),
    "createdAt": s.DateTimeField(),
    "updatedAt": s.DateTimeField(),
}

DISCREPANCY_STATE = _serializer(
    "DiscrepancyState",
    {
        "discrepancyId": _str(),
        "runId": _str("the run that found it"),
        "kind": s.ChoiceField([k.value for k in DiscrepancyKind]),
        "venue": _str(),
        "account": _str("null when the venue does not say (an order report)"),
        "symbol": _str(),
        "oms": s.JSONField(allow_null=True, help_text="the OMS's side (null: the OMS has none)"),
        "venueValue": s.JSONField(allow_null=True, help_text="the venue's side (null: the venue has none)"),
        "status": s.ChoiceField([k.value for k in DiscrepancyStatus]),
        "subject": _str("what differs: position|ACCOUNT|SYMBOL, order|<id>, fill|<execID>"),
        "text": _str(),
        "orderId": _str("the OMS order concerned (the adopted one for a venue order the OMS never sent)"),
        "safeModeScope": _str("the SAFE mode it engaged: symbol (VENUE:SYMBOL) or venue"),
        "safeModeKey": _str(),
        "resolvedBy": _str(),
        "resolvedAt": s.DateTimeField(allow_null=True),
        "resolveReason": _str(),
        **_STAMPS,
    },
)
RUN_STATE = _serializer(
    "ReconciliationRunState",
    {
        "runId": _str(),
        "venue": _str(),
        "trigger": s.ChoiceField([t.value for t in RunTrigger]),
        "checked": s.DictField(child=s.IntegerField(), help_text="orders, fills, positions compared"),
        "repaired": s.DictField(
            child=s.IntegerField(), help_text="fills re-pulled, orders brought to the venue's"
        ),
        "discrepancyIds": s.ListField(child=s.CharField(), help_text="every discrepancy it found"),
        "newDiscrepancyIds": s.ListField(child=s.CharField(), help_text="those it opened"),
        "safeMode": s.BooleanField(),
        "startedAt": s.DateTimeField(),
        "finishedAt": s.DateTimeField(),
        "durationMs": s.IntegerField(),
        **_STAMPS,
    },
)

DOCUMENT_SCHEMAS.update({"discrepancy": DISCREPANCY_STATE, "reconciliation_run": RUN_STATE})
