"""How executions take part in the purge (oms/lifecycle/purge.py): registered by the app.

An execution goes with its order's tree (by `orderId` or `clientOrderId`); one held for review
keeps the tree (the desk may still allocate it there), as does one updated after the executions
cut-off. A Rejected or Busted execution whose order no longer exists is due on its own.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from django.db.models import Exists, OuterRef, Q

from executions.enums import ExecStatus
from executions.models import Execution
from oms.core.retention import Cutoffs, PurgeParticipant, register_purge_participant
from oms.orders.models import Order

TERMINAL_EXECUTION = [ExecStatus.REJECTED, ExecStatus.BUSTED]
_CHUNK = 500


def tree_members(owner: Mapping[str, str], cut: Cutoffs) -> Iterator[tuple[str, str, bool]]:
    order_ids = list(owner)
    for i in range(0, len(order_ids), _CHUNK):
        chunk = order_ids[i : i + _CHUNK]
        rows = Execution.objects.filter(Q(order_id__in=chunk) | Q(client_order_id__in=chunk))
        for execution_id, order_id, client_id, status, updated_at in rows.values_list(
            "execution_id", "order_id", "client_order_id", "status", "updated_at"
        ):
            root = owner.get(order_id) or owner.get(client_id or "")
            if root is None:
                continue
            blocks = status == ExecStatus.PENDING_REVIEW or updated_at >= cut["executions"]
            yield root, execution_id, blocks


def orphans(cut: Cutoffs, limit: int | None) -> list[str]:
    qs = (
        Execution.objects.filter(status__in=TERMINAL_EXECUTION, updated_at__lt=cut["executions"])
        .filter(~Exists(Order.objects.filter(order_id=OuterRef("order_id"))))
        .order_by("execution_id")
        .values_list("execution_id", flat=True)
    )
    return list(qs[:limit] if limit is not None else qs)


EXECUTIONS = register_purge_participant(
    PurgeParticipant(aggregate="execution", members=tree_members, orphans=orphans)
)
