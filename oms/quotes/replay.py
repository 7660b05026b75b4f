"""What replay rebuilds for RFQ besides the state tables: the QuoteReqID and QuoteID indexes.

Each natural key is introduced by its create event, which carries the create command's
fingerprint (an identical repeat is a duplicate, different content a conflict).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from oms.core.fold import Envelope
from oms.core.replay import DerivedIndex, register_index
from oms.quotes.models import QuoteIdKey, QuoteReqIdKey


def quote_req_id_rows(env: Envelope) -> Iterator[tuple[str, dict[str, Any]]]:
    if env.type == "QuoteRequestCreated":
        yield (
            env.data["quoteReqID"],
            {
                "quote_request_id": env.aggregate_id,
                "fingerprint": env.data.get("fingerprint") or "",
            },
        )


def quote_id_rows(env: Envelope) -> Iterator[tuple[str, dict[str, Any]]]:
    if env.type == "QuoteCreated":
        yield (
            env.data["quoteID"],
            {"quote_id": env.aggregate_id, "fingerprint": env.data.get("fingerprint") or ""},
        )


QUOTE_REQ_IDS = register_index(
    DerivedIndex(
        name="quote_req_id_keys",
        aggregate="quote_request",
        model=QuoteReqIdKey,
        fields=("quote_request_id", "fingerprint"),
        rows=quote_req_id_rows,
    )
)

QUOTE_IDS = register_index(
    DerivedIndex(
        name="quote_id_keys",
        aggregate="quote",
        model=QuoteIdKey,
        fields=("quote_id", "fingerprint"),
        rows=quote_id_rows,
    )
)
