"""The demo logins: who `manage.py seed_demo` creates, and whether this database has them.

One list for the seed (which creates them), the login page (which says where they come from) and
README.md (which documents them). The passwords are published on purpose: the seed refuses to
create them unless DEBUG is on or `--force` says this really is a demo installation.
"""

from __future__ import annotations

from typing import NamedTuple

from django.contrib.auth.models import User

from oms.core.access import DESK, VIEWER


class DemoUser(NamedTuple):
    username: str
    password: str
    group: str | None
    superuser: bool
    may: str  # what the login may do, in the desk's words


DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser("desk", "desk-demo-pw", DESK, False, "desk trader: reads and sends commands"),
    DemoUser("viewer", "viewer-demo-pw", VIEWER, False, "reads only"),
    DemoUser("admin", "admin-demo-pw", None, True, "superuser: everything, and the admin"),
)


def demo_users_present() -> bool:
    """Were the demo logins seeded here? All of them exist with the seed's roles. (Their
    passwords are not checked: that costs a hash each, and a changed one just fails to log in.)"""
    for user in DEMO_USERS:
        found = User.objects.filter(username=user.username, is_superuser=user.superuser)
        if user.group:
            found = found.filter(groups__name=user.group)
        if not found.exists():
            return False
    return True
