"""Websocket routes of the live blotter."""

from __future__ import annotations

from django.urls import path

from blotter.consumers import BlotterConsumer

# django-stubs types path() for views only, not the ASGI apps that channels routes
websocket_urlpatterns = [path("ws/blotter/", BlotterConsumer.as_asgi())]  # type: ignore[arg-type]  # channels' ASGI app is not the view type django-stubs expects of path()
