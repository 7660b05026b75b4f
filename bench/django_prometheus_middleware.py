"""What django-prometheus's middleware pair would cost per request, measured, not adopted.

    .venv/bin/python -m pip install --target /tmp/djp --no-deps django-prometheus==2.5.0
    PYTHONPATH=/tmp/djp .venv/bin/python -m bench.django_prometheus_middleware

(installed beside, not into .venv: the project does not depend on it). The same request, `/healthz`
(no database, no session), through Django's test client with the project's middleware, and with
`PrometheusBeforeMiddleware` first and `PrometheusAfterMiddleware` last; alternated four times,
each the best of 300 runs of 10 requests (the least preempted on a shared machine).
"""

from __future__ import annotations

import os
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "oms.settings")


def main() -> None:
    import django

    django.setup()
    from django.conf import settings
    from django.test import Client, override_settings

    base = list(settings.MIDDLEWARE)
    variants = {
        "without": (base, settings.INSTALLED_APPS),
        "with": (
            [
                "django_prometheus.middleware.PrometheusBeforeMiddleware",
                *base,
                "django_prometheus.middleware.PrometheusAfterMiddleware",
            ],
            [*settings.INSTALLED_APPS, "django_prometheus"],
        ),
    }
    clients = {}
    for name, (middleware, apps) in variants.items():
        with override_settings(MIDDLEWARE=middleware, INSTALLED_APPS=apps):
            client = Client()
            assert client.get("/healthz").status_code == 200  # builds the chain under these settings
            clients[name] = client
    best: dict[str, list[float]] = {name: [] for name in clients}
    for _ in range(4):
        for name, client in clients.items():
            runs = timeit.repeat(lambda client=client: client.get("/healthz"), number=10, repeat=300)
            best[name].append(min(runs) / 10 * 1e6)
    print({name: [round(v, 1) for v in values] for name, values in best.items()})
    with_, without = min(best["with"]), min(best["without"])
    print(
        f"per request: without {without:.1f} us, with {with_:.1f} us: the pair costs {with_ - without:.1f} us"
    )


if __name__ == "__main__":
    main()
