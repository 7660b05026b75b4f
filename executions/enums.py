from __future__ import annotations

from enum import StrEnum


class ExecStatus(StrEnum):
    ALLOCATED = "Allocated"  # applied to its order and allocated to the client order at the root
    APPLIED = "Applied"  # applied to its order, not (yet) allocated: reserved for block allocation
    PENDING_REVIEW = "PendingReview"  # failed validation: held for the desk, changes no order
    REJECTED = "Rejected"  # discarded by the desk
    BUSTED = "Busted"  # TradeCancel: its quantity left the order again


class ReviewReason(StrEnum):
    UNKNOWN_ORDER = "unknown_order"
    ORDER_REJECTED = "order_rejected"
    NOT_A_VENUE_ORDER = "not_a_venue_order"
    NON_POSITIVE_QUANTITY = "non_positive_quantity"
    NON_POSITIVE_PRICE = "non_positive_price"
    OVERFILL = "overfill"
    PRICE_THROUGH_LIMIT = "price_through_limit"
    VENUE_MISMATCH = "venue_mismatch"


# What each review reason means, in the desk's words: one text for the admin's review queue and
# the blotter (its detail panel and review grid get it through the page config).
REVIEW_REASON_TEXT: dict[str, str] = {
    ReviewReason.UNKNOWN_ORDER: "The order it names is unknown to the OMS.",
    ReviewReason.ORDER_REJECTED: "Its order was rejected: nothing can have traded on it.",
    ReviewReason.NOT_A_VENUE_ORDER: "It names a client order; executions fill market orders and slices.",
    ReviewReason.NON_POSITIVE_QUANTITY: "Its quantity is zero or negative.",
    ReviewReason.NON_POSITIVE_PRICE: "Its price is zero or negative.",
    ReviewReason.OVERFILL: "It would fill the order (or its market order) beyond its quantity.",
    ReviewReason.PRICE_THROUGH_LIMIT: "Its price is through the order's limit price.",
    ReviewReason.VENUE_MISMATCH: "It came from another venue than the order's.",
}

# What the desk may knowingly accept when it allocates a held execution (the venue did trade at
# that price, or reported on another session); the others would break the order's quantities.
OVERRIDABLE = frozenset({ReviewReason.PRICE_THROUGH_LIMIT, ReviewReason.VENUE_MISMATCH})
