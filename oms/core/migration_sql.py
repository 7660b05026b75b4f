"""Hand-written SQL in migrations, per database vendor (triggers, functions, grants).

`RunSQL` cannot tell PostgreSQL from SQLite, and several migrations install the same objects in
each vendor's dialect: `vendor_sql` runs the list given for the connection's vendor, forwards and
backwards, and nothing on a vendor it has no list for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import migrations


def _run(statements: dict[str, list[str]]) -> Callable[[Any, Any], None]:
    def run(apps: Any, schema_editor: Any) -> None:
        for sql in statements.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)

    return run


def vendor_sql(install: dict[str, list[str]], remove: dict[str, list[str]]) -> migrations.RunPython:
    """A RunPython operation: `install[vendor]` forwards, `remove[vendor]` backwards."""
    return migrations.RunPython(_run(install), _run(remove))
