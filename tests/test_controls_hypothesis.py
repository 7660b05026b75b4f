"""Random control-plane sequences against the write path, checked against a small model.

A Hypothesis state machine engages and releases SAFE modes (as desk traders, a superuser, a viewer),
requests, confirms and disarms the arming of a Live venue (the same user or another), flips the
venue between Live and Paper, opens and resolves discrepancies, and sends orders. The model
predicts each outcome (success, or the stable error code / refusing rule); after each step the
venue's `armed` flag, its Arming controls and the SAFE modes in force must agree with the model,
and replaying the event log must give back the live state.
"""

from __future__ import annotations

import itertools
import os
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection, transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from oms.core.dispatch import dispatch
from oms.core.errors import ApplicationError
from oms.core.replay import replay
from rules import controls
from rules.models import Control, Venue

_ids = itertools.count(1)
DESK_USERS = ("u1", "u2")
USERS = (*DESK_USERS, "boss", "viewer")
SCOPES = [("global", None), ("venue", "LIVE"), ("account", "A1"), ("symbol", "S1"), ("symbol", "LIVE:S2")]
VENUE = "LIVE"


def stored(scope: str, key: str | None) -> tuple[str, str]:
    return (scope, key or "*")


class ControlMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        desk = Group.objects.get_or_create(name="desk")[0]
        viewer = Group.objects.get_or_create(name="viewer")[0]
        for name in DESK_USERS:
            User.objects.create_user(username=name).groups.add(desk)
        User.objects.create_user(username="viewer").groups.add(viewer)
        User.objects.create_user(username="boss", is_superuser=True)
        self.mode = "Live"
        dispatch(
            "venues",
            {"commandType": "UpsertVenueCommand", "venue": VENUE, "adapter": "MANUAL", "mode": "Live"},
            actor="boss",
        )
        self.armed = False
        self.requested_by: str | None = None
        self.safe: dict[tuple[str, str], str] = {}  # (scope, key) -> controlId in force
        self.open: dict[tuple[str, str], int] = {}
        self._counter = lambda scope, key: self.open.get((scope, key), 0)
        controls.register_open_discrepancies(self._counter)

    def teardown(self) -> None:
        try:
            report = replay(types=["venue", "control"])
            assert report.ok, "\n".join(str(d) for d in report.differences[:20])
        finally:
            controls._DISCREPANCY_COUNTERS.remove(self._counter)
            transaction.set_rollback(True)
            self._atomic.__exit__(None, None, None)

    def send(self, topic: str, body: dict[str, Any], actor: str, expect: str | None) -> dict[str, Any] | None:
        """`expect`: None for success, else the error code (or the refusing rule) the model predicts."""
        try:
            with transaction.atomic():
                result = dispatch(topic, body, actor=actor)
        except ApplicationError as exc:
            got = getattr(exc, "rule", None) if exc.code == "rule_refused" else exc.code
            assert got == expect, (body, actor, exc.as_dict())
            return None
        assert expect is None, (body, actor, "succeeded", result.body)
        return result.body

    # --- SAFE mode --------------------------------------------------------------------------------
    @rule(user=st.sampled_from(USERS), where=st.sampled_from(SCOPES))
    def engage(self, user: str, where: tuple[str, str | None]) -> None:
        scope, key = where
        expect = "permission_denied" if user == "viewer" else None
        body = {"commandType": "EngageSafeModeCommand", "scope": scope, "key": key, "reason": "r"}
        answer = self.send("controls", {k: v for k, v in body.items() if v is not None}, user, expect)
        if answer is not None:
            held = self.safe.get(stored(scope, key))
            assert answer["duplicate"] is (held is not None)
            self.safe[stored(scope, key)] = answer["control"]["controlId"]

    @rule(user=st.sampled_from(USERS), where=st.sampled_from(SCOPES))
    def release(self, user: str, where: tuple[str, str | None]) -> None:
        control_id = self.safe.get(stored(*where))
        if control_id is None:
            return
        if user != "boss":
            expect: str | None = "permission_denied"
        elif self.open.get(stored(*where)):
            expect = "open_discrepancies"
        else:
            expect = None
        body = {"commandType": "ReleaseSafeModeCommand", "controlId": control_id, "reason": "r"}
        if self.send("controls", body, user, expect) is not None:
            del self.safe[stored(*where)]

    @rule(where=st.sampled_from(SCOPES), count=st.sampled_from([0, 1]))
    def discrepancy(self, where: tuple[str, str | None], count: int) -> None:
        self.open[stored(*where)] = count

    # --- arming -------------------------------------------------------------------------------------
    @rule(user=st.sampled_from(USERS))
    def request(self, user: str) -> None:
        if user == "viewer":
            expect: str | None = "permission_denied"
        elif self.mode != "Live" or self.armed or self.requested_by not in (None, user):
            expect = "invalid_transition"
        else:
            expect = None
        if (
            self.send("controls", {"commandType": "RequestArmingCommand", "venue": VENUE}, user, expect)
            is not None
        ):
            self.requested_by = user

    @rule(user=st.sampled_from(USERS))
    def confirm(self, user: str) -> None:
        if user == "viewer":
            expect: str | None = "permission_denied"
        elif self.requested_by is None or self.armed:
            expect = "invalid_transition"
        elif self.requested_by == user:
            expect = "second_user_required"
        else:
            expect = None
        if (
            self.send("controls", {"commandType": "ConfirmArmingCommand", "venue": VENUE}, user, expect)
            is not None
        ):
            self.armed, self.requested_by = True, None

    @rule(user=st.sampled_from(USERS))
    def disarm(self, user: str) -> None:
        expect = "permission_denied" if user == "viewer" else None
        if self.send("controls", {"commandType": "DisarmCommand", "venue": VENUE}, user, expect) is not None:
            self.armed, self.requested_by = False, None

    @rule(mode=st.sampled_from(["Live", "Paper"]))
    def set_mode(self, mode: str) -> None:
        body = {"commandType": "UpsertVenueCommand", "venue": VENUE, "adapter": "MANUAL", "mode": mode}
        self.send("venues", body, "boss", None)
        if mode != self.mode:
            self.mode, self.armed, self.requested_by = mode, False, None

    # --- orders ---------------------------------------------------------------------------------------
    @rule(
        account=st.sampled_from(["A1", "A2"]),
        symbol=st.sampled_from(["S1", "S2"]),
        venue=st.sampled_from([VENUE, "OTHER", None]),
    )
    def order(self, account: str, symbol: str, venue: str | None) -> None:
        holding = {("global", "*"), ("account", account), ("symbol", symbol)}
        if venue:
            holding |= {("venue", venue), ("symbol", f"{venue}:{symbol}")}
        if holding & set(self.safe):
            expect: str | None = "safe_mode"
        elif venue == VENUE and self.mode == "Live" and not self.armed:
            expect = "venue_not_armed"
        else:
            expect = None
        body = {
            "commandType": "CreateOrderCommand",
            "clOrdID": f"H{os.getpid()}-{next(_ids)}",
            "symbol": symbol,
            "side": "Buy",
            "orderQty": "1",
            "ordType": "Market",
            "account": account,
            "venue": venue,
            "handling": "Desk",
        }
        self.send("orders", {k: v for k, v in body.items() if v is not None}, "u1", expect)

    # --- invariants -----------------------------------------------------------------------------------
    @invariant()
    def venue_and_controls_agree_with_the_model(self) -> None:
        row = Venue.objects.get(venue=VENUE)
        assert (row.mode, row.armed) == (self.mode, self.armed)
        arming = Control.objects.filter(kind="Arming", key=VENUE, status__in=["Requested", "Armed"])
        assert arming.count() <= 1
        assert arming.filter(status="Armed").exists() == self.armed
        assert {c.doc["requestedBy"] for c in arming.filter(status="Requested")} == (
            {self.requested_by} if self.requested_by else set()
        )
        in_force = Control.objects.filter(kind="SafeMode", active=True)
        assert {(c.scope, c.key): c.control_id for c in in_force} == self.safe


@pytest.mark.django_db
def test_random_control_sequences_keep_the_invariants() -> None:
    run_state_machine_as_test(
        ControlMachine,
        settings=settings(
            max_examples=int(
                os.environ.get("HYPOTHESIS_MAX_EXAMPLES", "10" if connection.vendor == "postgresql" else "25")
            ),
            stateful_step_count=30,
            print_blob=True,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
