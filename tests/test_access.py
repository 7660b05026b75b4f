"""Roles and access checks (oms/core/access.py): the one place every edge asks who may read and who
may send commands."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser, User

from oms.core.access import DESK, VIEWER, can_command, can_read, roles_of


def test_anonymous_users_hold_no_role() -> None:
    anonymous = AnonymousUser()
    assert roles_of(anonymous) == set() and roles_of(None) == set()
    assert not can_read(anonymous) and not can_command(anonymous)


@pytest.mark.django_db
def test_a_viewer_reads_and_sends_nothing(viewer_user: User) -> None:
    assert roles_of(viewer_user) == {VIEWER}
    assert can_read(viewer_user) and not can_command(viewer_user)


@pytest.mark.django_db
def test_the_desk_reads_and_sends_commands(desk_user: User) -> None:
    assert roles_of(desk_user) == {DESK}
    assert can_read(desk_user) and can_command(desk_user)


@pytest.mark.django_db
def test_a_user_without_a_role_may_do_nothing(django_user_model: Any) -> None:
    nobody = django_user_model.objects.create_user(username="nobody", password="pw-nobody")
    assert not can_read(nobody) and not can_command(nobody)


@pytest.mark.django_db
def test_superusers_hold_every_role_without_a_query(admin_user: User, django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(0):
        assert roles_of(admin_user) == {DESK, VIEWER}
        assert can_read(admin_user) and can_command(admin_user)


@pytest.mark.django_db
def test_roles_are_asked_once_per_user_object(desk_user: User, django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(1):
        assert can_command(desk_user) and can_read(desk_user) and roles_of(desk_user) == {DESK}
