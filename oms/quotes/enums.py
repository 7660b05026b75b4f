"""RFQ enumerations (names as the API shows them).

FIX has no status for a QuoteRequest (R) itself; ours follows what the desk needs to see: waiting
for a price, priced, and how it ended. A Quote's statuses are FIX QuoteStatus (297) names.
"""

from __future__ import annotations

from enum import StrEnum


class QuoteRequestStatus(StrEnum):
    OPEN = "Open"  # waiting for a quote
    QUOTED = "Quoted"  # at least one quote was made (see the quotes for which are still active)
    ACCEPTED = "Accepted"  # the client took a quote: a client order exists (orderId)
    CANCELED = "Canceled"  # the client withdrew the request
    REJECTED = "Rejected"  # the desk declined to quote (FIX QuoteRequestReject, AG)
    EXPIRED = "Expired"  # validUntilTime passed (FIX 62), applied by the lifecycle job


class QuoteStatus(StrEnum):  # FIX QuoteStatus (297)
    ACTIVE = "Active"  # 16: may be accepted until validUntilTime
    ACCEPTED = "Accepted"  # 0
    REJECTED = "Rejected"  # 5: the client passed on it (FIX QuoteResponse, AJ)
    CANCELED = "Canceled"  # 17: withdrawn by the desk, or closed with its request
    EXPIRED = "Expired"  # 7


OPEN_REQUEST_STATUSES = (QuoteRequestStatus.OPEN, QuoteRequestStatus.QUOTED)
