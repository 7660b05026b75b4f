"""`{% review_queue_size %}`: how many executions wait for review, for the admin index."""

from __future__ import annotations

from typing import Any

from django import template

from executions.enums import ExecStatus
from executions.models import Execution
from oms.core.access import can_read

register = template.Library()


@register.simple_tag(takes_context=True)
def review_queue_size(context: dict[str, Any]) -> int | None:
    request = context.get("request")
    if request is None or not request.user.is_staff or not can_read(request.user):
        return None
    return Execution.objects.filter(status=ExecStatus.PENDING_REVIEW.value).count()
