from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from oms.orders.models import Order


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The landing page: the newest orders and the ways into the API; the live grid replaces it."""
    orders = Order.objects.order_by("-created_at", "-order_id").values_list("doc", flat=True)[:50]
    return render(request, "blotter/home.html", {"orders": list(orders)})
