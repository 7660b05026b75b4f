"""Where reconciliation plugs into the layers below it, by registration:

* SAFE mode's release (rules.controls) asks every registered counter how many discrepancies are
  open in a scope: this one counts the Open discrepancies (positions count their `discrepancy:`
  dirty reasons beside it);
* the venue stream consumer (oms.venues.ingest) calls back after a resync: a reconnect or a gap
  may have lost anything, so a reconciliation follows (a Celery task; in-process on the embedded
  default). The periodic resync is left to the beat entry (OMS_RECONCILE_INTERVAL).
"""

from __future__ import annotations

from django.conf import settings
from django.db.models import Q

from oms.reconciliation.enums import DiscrepancyStatus, RunTrigger
from oms.reconciliation.models import Discrepancy
from oms.venues.ingest import after_resync
from rules.controls import GLOBAL_KEY, register_open_discrepancies


def open_discrepancies(scope: str, key: str) -> int:
    rows = Discrepancy.objects.filter(status=DiscrepancyStatus.OPEN.value)
    if scope == "venue":
        rows = rows.filter(venue=key)
    elif scope == "account":
        rows = rows.filter(account=key)
    elif scope == "symbol":
        # "VENUE:SYMBOL" or a bare symbol; venue names and symbols may hold ':' (ccxt's
        # "BTC/USDT:USDT"), so every split is tried, as the kill switch does
        q = Q(symbol=key)
        for i, ch in enumerate(key):
            if ch == ":":
                q |= Q(venue=key[:i], symbol=key[i + 1 :])
        rows = rows.filter(q)
    elif key != GLOBAL_KEY:
        return 0
    return rows.count()


register_open_discrepancies(open_discrepancies)


@after_resync
def reconcile_after_resync(venue: str, why: str) -> None:
    if why == "periodic" or not settings.OMS_RECONCILE_ON_RESYNC:
        return
    from oms.reconciliation.tasks import reconcile  # tasks import the services, which import this

    reconcile.delay(venue, RunTrigger.RESYNC.value)
