from __future__ import annotations

from django.urls import include, path

from blotter import api, ladder, risk_api, views

urlpatterns = [
    path("", views.home, name="home"),
    path("blotter/api/views", api.views, name="saved-views"),
    path("blotter/api/snapshot", api.snapshot, name="blotter-snapshot"),
    path("blotter/api/book", ladder.book, name="blotter-book"),  # the depth ladder's read
    path("blotter/api/views/<int:pk>", api.view_detail, name="saved-view"),
    path("blotter/api/dead-letters", risk_api.dead_letters, name="blotter-dead-letters"),
    path("blotter/forms/", include("blotter.form_urls")),  # the desk forms (F)
]
