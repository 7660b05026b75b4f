from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import Resolver404, resolve

from executions.enums import REVIEW_REASON_TEXT, ExecStatus
from oms.core.access import can_command, can_read
from oms.core.parsing import dec_str
from oms.orders.enums import OrdStatus
from oms.reconciliation.enums import DiscrepancyStatus
from rules.models import Instrument

ENTRY_POINTS = ("app.js", "ladder.js")


def _page_modules() -> tuple[str, ...]:
    """Every ES module of the page, by the URL its imports name (`/static/blotter/...`, never a
    hashed name: the preload must be the same URL as the import to be reused). Listed in the page
    as `modulepreload` links, the browser fetches them all at once instead of one level of the
    import graph per round trip (app.js -> grid.js -> Tabulator -> ...: five levels); the grid
    module (Tabulator, 440 kB) first, being the largest and the deepest. The two entry points
    (app.js, ladder.js) are not listed: their own script tags load them, by `{% static %}`."""
    folder = Path(settings.BASE_DIR) / "static" / "blotter"
    names = sorted(p.name for p in folder.glob("*.js") if p.name not in ENTRY_POINTS)
    return ("/static/vendor/tabulator/js/tabulator_esm.min.mjs", *(f"/static/blotter/{n}" for n in names))


PAGE_MODULES = _page_modules()


def _ticks() -> dict[str, dict[str, str]]:
    """Each instrument's tick size by venue and symbol: the page shows prices to the tick
    (static/blotter/format.js). Read once per page load; an instrument changed later shows on the
    next load (tick sizes change rarely, and a price is never altered, only displayed)."""
    out: dict[str, dict[str, str]] = {}
    for venue, symbol, tick in Instrument.objects.values_list("venue", "symbol", "tick_size"):
        out.setdefault(venue, {})[symbol] = dec_str(tick)
    return out


def _endpoint_exists(path: str) -> bool:
    try:
        resolve(path)
    except Resolver404:
        return False
    return True


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The blotter page: the grid, its views and the live feed are built by static/blotter/*.js."""
    user = request.user
    config = {
        "user": user.get_username(),
        "canRead": can_read(user),
        "canAct": can_command(user),
        # the controls bar offers "Release" on a SAFE mode to superusers (the server decides anyway)
        "isSuperuser": bool(user.is_superuser),
        "wsPath": "/ws/blotter/",
        "endpoints": {
            "orders": "/api/queries/orders",
            "executions": "/api/queries/executions",
            "events": "/api/queries/events",
            "snapshot": "/blotter/api/snapshot",  # the working set at one seq (blotter/snapshot.py)
            "savedViews": "/blotter/api/views",
            # the RFQ views are shown only once their query endpoints exist
            "quoteRequests": "/api/queries/quote-requests"
            if _endpoint_exists("/api/queries/quote-requests")
            else None,
            "quotes": "/api/queries/quotes" if _endpoint_exists("/api/queries/quotes") else None,
            "discrepancies": "/api/queries/discrepancies",  # the risk view's queue
        },
        # the status filters' choices, from the domains' enums (the page keeps no list of its own)
        "statuses": {
            "orders": [s.value for s in OrdStatus],
            "executions": [s.value for s in ExecStatus],
            # the risk view's discrepancies queue: {member name in lower case: value}
            "discrepancies": {s.name.lower(): s.value for s in DiscrepancyStatus},
        },
        "ticks": _ticks(),
        # the review reasons in words, as the admin's review queue shows them
        "reviewReasons": dict(REVIEW_REASON_TEXT),
    }
    return render(
        request,
        "blotter/home.html",
        {"config": config, "can_act": config["canAct"], "modules": PAGE_MODULES},
    )
