"""ccxt's exception hierarchy -> our typed errors. What the caller does next depends on it.

ccxt's tree (4.x), the parts that matter, and ours:

    BaseError
      ExchangeError                    the venue answered, with an error
        InvalidOrder, InsufficientFunds, BadRequest (BadSymbol), OperationRejected,
        AuthenticationError, ArgumentsRequired, ...        -> VenueRejected
          OrderNotFound (an InvalidOrder)                  -> OrderNotFound
          DuplicateOrderId (an InvalidOrder)               -> the adapter answers the existing order
        NotSupported                                       -> NotSupported
      OperationFailed
        NetworkError                   no (usable) answer
          DDoSProtection, RateLimitExceeded                -> RateLimited (refused: nothing happened)
          ExchangeNotAvailable (5xx, "unavailable")        -> TransientVenueError, but see below
            OnMaintenance                                  -> TransientVenueError, always
          InvalidNonce                                     -> TransientVenueError (refused on its clock)
          RequestTimeout                                   -> see below
        BadResponse (NullResponse)                         -> see below
        CancelPending                                      -> TransientVenueError

The order matters: RateLimitExceeded and RequestTimeout are NetworkErrors, OrderNotFound is an
InvalidOrder; the first matching row of `_RULES` wins.

A request that changes something at the venue (place, cancel, replace) and fails with a timeout,
a broken connection, a 5xx or an unreadable answer AFTER it was sent may have been carried out:
that is an `UnknownOutcome`, never a reject and never a blind resend (binance documents its 503
"execution status unknown" and Bybit its 10016 the same way; a resent create whose clientOrderId
was already filled is a second order on venues that dedupe only among open orders). The adapter
then asks the venue for the order by clientOrderId. The same failure on a read is only transient.
OnMaintenance and rate limits are refusals: the venue says it did nothing.
"""

from __future__ import annotations

from enum import StrEnum

import ccxt

from oms.venues.adapter import (
    NotSupported,
    OrderNotFound,
    RateLimited,
    TransientVenueError,
    UnknownOutcome,
    VenueError,
    VenueRejected,
)


class Operation(StrEnum):
    READ = "read"  # fetch_*: safe to retry
    PLACE = "place"  # create_order
    CANCEL = "cancel"  # cancel_order
    REPLACE = "replace"  # edit_order

    @property
    def changes_state(self) -> bool:
        return self is not Operation.READ


# (ccxt exception, our error for a read, our error for a request that changes state); first match wins
_RULES: tuple[tuple[type[BaseException], type[VenueError], type[VenueError]], ...] = (
    (ccxt.RateLimitExceeded, RateLimited, RateLimited),
    (ccxt.DDoSProtection, RateLimited, RateLimited),
    (ccxt.OnMaintenance, TransientVenueError, TransientVenueError),
    (ccxt.InvalidNonce, TransientVenueError, TransientVenueError),
    (ccxt.CancelPending, TransientVenueError, TransientVenueError),
    (ccxt.RequestTimeout, TransientVenueError, UnknownOutcome),
    (ccxt.ExchangeNotAvailable, TransientVenueError, UnknownOutcome),
    (ccxt.NetworkError, TransientVenueError, UnknownOutcome),
    (ccxt.BadResponse, TransientVenueError, UnknownOutcome),
    (ccxt.OrderNotFound, OrderNotFound, OrderNotFound),
    (ccxt.NotSupported, NotSupported, NotSupported),
    (ccxt.ExchangeError, VenueRejected, VenueRejected),
)

DEFAULT_RETRY_AFTER = 1.0  # seconds, when the venue names no Retry-After


def translate(
    exc: BaseException, venue: str, operation: Operation, *, retry_after: float | None = None
) -> VenueError:
    """Our typed error for a ccxt exception raised by `operation` (raise it `from exc`).

    Anything that is not a ccxt error (a bug in ccxt's parser, a KeyError on an odd answer) after
    a state-changing request is an UnknownOutcome too: we cannot tell whether it was carried out.
    """
    message = f"{type(exc).__name__}: {exc}"
    for ccxt_type, on_read, on_change in _RULES:
        if isinstance(exc, ccxt_type):
            error = on_change if operation.changes_state else on_read
            if error is RateLimited:
                return RateLimited(venue, message, retry_after=retry_after or DEFAULT_RETRY_AFTER)
            return error(venue, message)
    if operation.changes_state:
        return UnknownOutcome(venue, message)
    return TransientVenueError(venue, message)


def is_duplicate_client_id(exc: BaseException) -> bool:
    """The venue refused a create because it already has that clientOrderId (an earlier send landed).

    ccxt raises DuplicateOrderId for some venues only; binance answers -2010 "Duplicate order sent."
    (spot) and -4116 "ClientOrderId is duplicated." (futures), both InvalidOrder in ccxt.
    """
    if isinstance(exc, ccxt.DuplicateOrderId):
        return True
    return isinstance(exc, ccxt.InvalidOrder) and "duplicate" in str(exc).lower()
