from django.apps import AppConfig


class ApiConfig(AppConfig):
    """The command/query API: installed for its management command (`api_docs`); no models."""

    name = "oms.api"
    label = "api"
    verbose_name = "API"
