from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models


class SavedView(models.Model):
    """A user's grid layout for one blotter view: columns (order, width, visibility), header
    filters, sort and quick filter, as the page's grid reports them (`state`, JSON).

    Stored server-side so it follows the user to another machine. The name "" is the layout the
    page last showed (saved automatically); other names are the user's named views.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views")
    view = models.CharField(max_length=32)
    name = models.CharField(max_length=64, blank=True)
    state = models.JSONField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "view", "name"], name="saved_view_unique_name")
        ]
        ordering = ["view", "name"]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.view}:{self.name or '(current)'}"

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.pk,
            "view": self.view,
            "name": self.name,
            "state": self.state,
            "updatedAt": self.updated_at.isoformat().replace("+00:00", "Z"),
        }
