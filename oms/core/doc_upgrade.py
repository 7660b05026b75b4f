"""Data migrations of stored state documents: a field added to an aggregate's API document.

The state row's `doc` is served as it is (no re-encoding per read), so a field the document gains
(e.g. `allowedActions`) must be written into the rows that exist. The value is derived from the
document itself through the domain's own decoder, never from other tables, so it is what replay
would write (`manage.py replay --verify` stays clean). Events keep the document as it was when
they were written: replay does not count a field missing from an older event's stored state as a
difference (see `oms.core.replay`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import migrations

Derive = Callable[[dict[str, Any]], Any]


def add_document_field(app_label: str, model_name: str, field: str, derive: Derive) -> migrations.RunPython:
    """A RunPython operation adding `field` (= derive(doc)) to every row's `doc` lacking it."""

    def forward(apps: Any, schema_editor: Any) -> None:
        model = apps.get_model(app_label, model_name)
        batch: list[Any] = []
        for row in model.objects.only("pk", "doc").iterator(chunk_size=2000):
            doc = row.doc
            if isinstance(doc, dict) and field not in doc:
                row.doc = {**doc, field: derive(doc)}
                batch.append(row)
            if len(batch) >= 2000:
                model.objects.bulk_update(batch, ["doc"])
                batch = []
        if batch:
            model.objects.bulk_update(batch, ["doc"])

    return migrations.RunPython(forward, migrations.RunPython.noop, elidable=True)


def refresh_document_field(
    app_label: str, model_name: str, field: str, derive: Derive, **only: Any
) -> migrations.RunPython:
    """A RunPython operation writing `field` (= derive(doc)) again where a row's stored value
    differs: a derived field (e.g. `allowedActions`) whose rule changed. `only`: a filter of the
    rows that can differ (`doc__phase="PendingNew"`); rows without the field are left to
    `add_document_field`."""

    def forward(apps: Any, schema_editor: Any) -> None:
        model = apps.get_model(app_label, model_name)
        batch: list[Any] = []
        for row in model.objects.filter(**only).only("pk", "doc").iterator(chunk_size=2000):
            doc = row.doc
            if isinstance(doc, dict) and field in doc:
                value = derive(doc)
                if doc[field] != value:
                    row.doc = {**doc, field: value}
                    batch.append(row)
            if len(batch) >= 2000:
                model.objects.bulk_update(batch, ["doc"])
                batch = []
        if batch:
            model.objects.bulk_update(batch, ["doc"])

    return migrations.RunPython(forward, migrations.RunPython.noop, elidable=True)
