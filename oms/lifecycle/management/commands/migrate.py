"""`manage.py migrate`, as the owner of the tables when `DATABASE_OWNER_URL` is set.

Django's own command, run on the default database with the owner's connection settings instead
of the application role's (`DATABASE_URL`); its `post_migrate` receivers then install the audit
triggers and purge functions (owned by the owner) and grant the application role
(oms/lifecycle/roles.py). Without `DATABASE_OWNER_URL` it is Django's command unchanged.
"""

from __future__ import annotations

import contextlib
from typing import Any

from django.conf import settings
from django.core.management.commands.migrate import Command as DjangoMigrate
from django.db import connections

from oms.lifecycle.roles import connected_as


class Command(DjangoMigrate):
    help = DjangoMigrate.help + " As DATABASE_OWNER_URL's role when set (then grants DATABASE_URL's role)."

    def handle(self, *args: Any, **options: Any) -> None:
        connection = connections[options["database"]]
        owner = settings.OMS_DATABASE_OWNER
        as_owner = (
            # the owner's user and password always; database, host and port where the URL names them
            connected_as(connection, {k: v for k, v in owner.items() if v or k in ("USER", "PASSWORD")})
            if owner and connection.vendor == "postgresql"
            else contextlib.nullcontext()
        )
        with as_owner:
            super().handle(*args, **options)
