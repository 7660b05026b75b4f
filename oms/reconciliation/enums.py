"""The discrepancy vocabulary of the contract (`GET /api/queries/discrepancies`)."""

from __future__ import annotations

from enum import StrEnum


class DiscrepancyKind(StrEnum):
    POSITION_MISMATCH = "position_mismatch"  # the venue's position quantity is not the OMS's
    UNKNOWN_VENUE_ORDER = "unknown_venue_order"  # an order open at the venue the OMS never sent
    MISSING_VENUE_ORDER = "missing_venue_order"  # an order working in the OMS the venue does not have
    MISSING_FILL = "missing_fill"  # a venue fill the OMS could not book (no order, or held)
    STATUS_MISMATCH = "status_mismatch"  # the same order, another status or cumQty


class DiscrepancyStatus(StrEnum):
    OPEN = "Open"
    RESOLVED = "Resolved"


class RunTrigger(StrEnum):
    """Why a reconciliation ran."""

    DEMAND = "demand"  # RunReconciliationCommand from a person
    SCHEDULE = "schedule"  # the beat entry (OMS_RECONCILE_INTERVAL)
    RESYNC = "resync"  # the venue's stream reconnected or resynced after a gap
