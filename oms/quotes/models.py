"""RFQ tables: state tables `quote_requests` / `quotes`, their event tables, and the natural keys.

Like orders: typed columns for filtering and ordering, `doc` holding the full state exactly as
the API shows it (what queries return), no foreign keys (the application keeps the links).
"""

from __future__ import annotations

from django.db import models

from oms.core.models import EventRecord
from oms.core.parsing import dec_str
from oms.orders.enums import Side
from oms.quotes.enums import QuoteRequestStatus, QuoteStatus


class QuoteRequest(models.Model):
    quote_request_id = models.CharField(max_length=64, primary_key=True)
    quote_req_id = models.CharField(max_length=64, db_index=True)  # FIX 131, the client's key
    symbol = models.CharField(max_length=64, db_index=True)
    side = models.CharField(max_length=10, choices=[(s.value, s.value) for s in Side])
    account = models.CharField(max_length=64, db_index=True)
    status = models.CharField(max_length=10, choices=[(s.value, s.value) for s in QuoteRequestStatus])
    order_qty = models.DecimalField(max_digits=28, decimal_places=10)
    valid_until_time = models.DateTimeField(null=True, blank=True)
    order_id = models.CharField(max_length=64, null=True, blank=True)
    version = models.PositiveIntegerField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField(db_index=True)
    doc = models.JSONField()

    class Meta:
        db_table = "quote_requests"
        indexes = [
            models.Index(fields=["-created_at", "-quote_request_id"], name="quote_requests_created"),
            # the lifecycle job's scan: open requests by expiry time
            models.Index(
                fields=["valid_until_time"],
                name="quote_requests_due",
                condition=models.Q(status__in=["Open", "Quoted"]),
            ),
        ]

    def __str__(self) -> str:
        return f"RFQ {self.quote_req_id} {self.side} {dec_str(self.order_qty)} {self.symbol} [{self.status}]"


class QuoteRequestEvent(EventRecord):
    class Meta(EventRecord.Meta):
        db_table = "quote_request_events"
        constraints = [
            models.UniqueConstraint(
                fields=["aggregate_id", "version"], name="uniq_quote_request_event_version"
            ),
        ]


class Quote(models.Model):
    quote_id = models.CharField(max_length=64, primary_key=True)
    fix_quote_id = models.CharField(max_length=64, db_index=True)  # FIX 117 QuoteID, the quoter's key
    quote_request_id = models.CharField(max_length=64, db_index=True)
    quote_req_id = models.CharField(max_length=64, db_index=True)
    symbol = models.CharField(max_length=64, db_index=True)
    side = models.CharField(max_length=10, choices=[(s.value, s.value) for s in Side])
    account = models.CharField(max_length=64)
    status = models.CharField(max_length=10, choices=[(s.value, s.value) for s in QuoteStatus])
    bid_px = models.DecimalField(max_digits=28, decimal_places=10, null=True, blank=True)
    offer_px = models.DecimalField(max_digits=28, decimal_places=10, null=True, blank=True)
    valid_until_time = models.DateTimeField(null=True, blank=True)
    order_id = models.CharField(max_length=64, null=True, blank=True)
    version = models.PositiveIntegerField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField(db_index=True)
    doc = models.JSONField()

    class Meta:
        db_table = "quotes"
        indexes = [
            models.Index(fields=["-created_at", "-quote_id"], name="quotes_created"),
            models.Index(fields=["valid_until_time"], name="quotes_due", condition=models.Q(status="Active")),
        ]

    def __str__(self) -> str:
        return f"Quote {self.fix_quote_id} for {self.quote_req_id} [{self.status}]"


class QuoteEvent(EventRecord):
    class Meta(EventRecord.Meta):
        db_table = "quote_events"
        constraints = [
            models.UniqueConstraint(fields=["aggregate_id", "version"], name="uniq_quote_event_version"),
        ]


class QuoteReqIdKey(models.Model):
    """Every QuoteReqID (FIX 131) ever used, with the fingerprint of the create that introduced it:
    an identical repeat is a duplicate (200), different content a conflict (409)."""

    quote_req_id = models.CharField(max_length=64, primary_key=True)
    quote_request_id = models.CharField(max_length=64)
    fingerprint = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        db_table = "quote_req_id_keys"

    def __str__(self) -> str:
        return f"{self.quote_req_id} -> {self.quote_request_id}"


class QuoteIdKey(models.Model):
    """Every QuoteID (FIX 117) ever used, like `QuoteReqIdKey`."""

    fix_quote_id = models.CharField(max_length=64, primary_key=True)
    quote_id = models.CharField(max_length=64)
    fingerprint = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        db_table = "quote_id_keys"

    def __str__(self) -> str:
        return f"{self.fix_quote_id} -> {self.quote_id}"
