from django.apps import AppConfig


class QuotesConfig(AppConfig):
    name = "oms.quotes"
    label = "quotes"
    verbose_name = "Quotes (RFQ)"

    def ready(self) -> None:
        from oms.quotes import repository, services  # noqa: F401  (registers aggregates and handlers)
