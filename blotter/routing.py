"""Websocket routes of the live blotter (the consumers arrive with the blotter issue)."""

from __future__ import annotations

websocket_urlpatterns: list = []
