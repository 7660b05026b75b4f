"""Celery task outcomes -> `oms_celery_tasks_total{task, state}`, from Celery's own signals.

Eager tasks (the embedded default runs them in-process) send the same signals as a worker's.
"""

from __future__ import annotations

from typing import Any

from celery import signals
from django.conf import settings

from oms.core import metrics


def _task_name(sender: Any) -> str:
    return getattr(sender, "name", None) or str(sender or "unknown")


def _success(sender: Any = None, **kwargs: Any) -> None:
    metrics.celery_task_outcome(_task_name(sender), "success")


def _failure(sender: Any = None, **kwargs: Any) -> None:
    metrics.celery_task_outcome(_task_name(sender), "failure")


def _retry(sender: Any = None, **kwargs: Any) -> None:
    metrics.celery_task_outcome(_task_name(sender), "retry")


def _revoked(sender: Any = None, **kwargs: Any) -> None:
    metrics.celery_task_outcome(_task_name(sender), "revoked")


def _rejected(sender: Any = None, message: Any = None, **kwargs: Any) -> None:
    # the sender is the worker's consumer; the task's name is in the message headers
    headers = getattr(message, "headers", None) or {}
    metrics.celery_task_outcome(str(headers.get("task") or "unknown"), "rejected")


def _worker_ready(sender: Any = None, **kwargs: Any) -> None:
    # the worker's main process; its prefork children write to PROMETHEUS_MULTIPROC_DIR if set
    if settings.OMS_METRICS_PORT:
        metrics.serve(settings.OMS_METRICS_PORT, settings.OMS_METRICS_ADDR)


def connect() -> None:
    for signal, receiver in (
        (signals.task_success, _success),
        (signals.task_failure, _failure),
        (signals.task_retry, _retry),
        (signals.task_revoked, _revoked),
        (signals.task_rejected, _rejected),
        (signals.worker_ready, _worker_ready),
    ):
        signal.connect(receiver, weak=False, dispatch_uid=f"oms.observability.{receiver.__name__}")
