from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/", include("oms.api.urls")),
    path("", include("oms.observability.urls")),  # /metrics, /healthz, /readyz
    path("", include("blotter.urls")),
]

# JSON errors in the contract's shape under /api/, Django's pages elsewhere
handler404 = "oms.api.errors.handler404"
handler500 = "oms.api.errors.handler500"
