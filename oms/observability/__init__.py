"""Operations: the Prometheus endpoint `/metrics`, the probes `/healthz` and `/readyz`.

The core's metric families live in `oms.core.metrics` (the write path, publisher and consumer feed
them); this app exposes them, adds the ones read at scrape time (publisher backlog, DB pool) and
counts Celery task outcomes through Celery's signals. An edge, like the API: it imports the core.
"""
