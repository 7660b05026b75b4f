from __future__ import annotations

from django.apps import AppConfig


class ExecutionsConfig(AppConfig):
    name = "executions"
    verbose_name = "Executions"

    def ready(self) -> None:
        # registers the aggregate, its queries, its handlers and its purge participation
        from executions import purging, repository, selectors, services  # noqa: F401
