"""Order tables: the `orders` state table (a flat tree), its event table and the ClOrdID index.

There are no foreign keys between orders (spec section 6): the tree lives in `root_id` and
`parent_id`, and the application keeps it consistent. The typed columns serve queries and
indexes; `doc` holds the full state exactly as the API shows it (decimals as strings, so
nothing is lost to SQLite's numeric affinity), and is what queries return.
"""

from __future__ import annotations

from django.db import models

from oms.core.models import EventRecord
from oms.core.parsing import dec_str
from oms.orders.enums import Handling, Kind, OrdStatus, Side

WORKING = ["PendingNew", "New", "PartiallyFilled", "PendingCancel", "PendingReplace"]


class Order(models.Model):
    order_id = models.CharField(max_length=64, primary_key=True)
    cl_ord_id = models.CharField(max_length=64, db_index=True)
    kind = models.CharField(max_length=8, choices=[(k.value, k.value) for k in Kind])
    root_id = models.CharField(max_length=64, db_index=True)
    parent_id = models.CharField(max_length=64, null=True, blank=True, db_index=True)
    symbol = models.CharField(max_length=64)
    side = models.CharField(max_length=10, choices=[(s.value, s.value) for s in Side])
    account = models.CharField(max_length=64, db_index=True)
    venue = models.CharField(max_length=64, null=True, blank=True)
    # no single-column index on status: the planner preferred it over the partial index below
    # and turned the blotter's COUNT into a BitmapAnd over every working order (docs/benchmarks.md)
    status = models.CharField(max_length=16, choices=[(s.value, s.value) for s in OrdStatus])
    handling = models.CharField(max_length=8, choices=[(h.value, h.value) for h in Handling])
    order_qty = models.DecimalField(max_digits=28, decimal_places=10)
    cum_qty = models.DecimalField(max_digits=28, decimal_places=10)
    leaves_qty = models.DecimalField(max_digits=28, decimal_places=10)
    price = models.DecimalField(max_digits=28, decimal_places=10, null=True, blank=True)
    avg_px = models.DecimalField(max_digits=28, decimal_places=10)
    version = models.PositiveIntegerField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField(db_index=True)
    doc = models.JSONField()

    class Meta:
        db_table = "orders"
        indexes = [
            models.Index(fields=["symbol", "-created_at", "-order_id"], name="orders_symbol_created"),
            models.Index(fields=["-created_at", "-order_id"], name="orders_created"),
            # The blotter's hot query: working orders of one symbol, newest first.
            models.Index(
                fields=["symbol", "-created_at", "-order_id"],
                name="orders_working_symbol_created",
                condition=models.Q(status__in=WORKING),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.cl_ord_id} {self.side} {dec_str(self.order_qty)} {self.symbol} [{self.status}]"


class OrderEvent(EventRecord):
    class Meta(EventRecord.Meta):
        db_table = "order_events"
        constraints = [
            models.UniqueConstraint(fields=["aggregate_id", "version"], name="uniq_order_event_version"),
        ]


class ClOrdIdKey(models.Model):
    """Every ClOrdID ever used (creates, cancel and replace requests): FIX requires them unique.

    `fingerprint` is the hash of the CreateOrderCommand that introduced it, so a repeat with
    identical content is recognised as a duplicate and one with different content is refused.
    """

    cl_ord_id = models.CharField(max_length=64, primary_key=True)
    order_id = models.CharField(max_length=64)
    fingerprint = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        db_table = "order_cl_ord_ids"

    def __str__(self) -> str:
        return f"{self.cl_ord_id} -> {self.order_id}"
