"""The orders app's own refusals: ApplicationErrors with the contract's stable codes.

The core keeps the generic family (ValidationFailed, NotFound, InvalidTransition, VersionConflict,
RuleRefused, ...); these name rules of orders only, so they live with the orders.
"""

from __future__ import annotations

from oms.core.errors import ApplicationError


class ReplacePending(ApplicationError):
    code = "replace_pending"
    http_status = 409


class DuplicateClOrdID(ApplicationError):
    code = "duplicate_cl_ord_id"
    http_status = 409


class ExceedsParentQuantity(ApplicationError):
    code = "exceeds_parent_quantity"
    http_status = 409


class VenueReportsOnly(ApplicationError):
    """A venue report (an ack, a fill, a cancel or replace confirmation...) entered by a person for
    an order at a venue with an adapter: the OMS sends those orders itself and only the venue's
    adapter reports on them (contract: "the desk never enters reports for them"). 409: the same
    command is accepted for an order at MANUAL, where the desk is the venue's voice."""

    code = "venue_reports_only"
    http_status = 409
