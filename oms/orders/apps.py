from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "oms.orders"
    label = "orders"
    verbose_name = "Orders"

    def ready(self) -> None:
        from oms.orders import reactions, repository, services  # noqa: F401  (registers aggregate, handlers, reactions)
