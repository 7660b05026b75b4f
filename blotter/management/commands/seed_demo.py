"""Demo logins and a small, realistic desk book, for a local run (`bash scripts/run.sh`).

    python manage.py seed_demo            # DEBUG only: the demo passwords are public
    python manage.py seed_demo --force    # anywhere (a throwaway staging box, a screenshot)

Idempotent: groups, users and tokens are created when missing (an existing user keeps its
password); the demo orders are created only while there are no orders at all. Every order and
execution is made by a command through the command bus, exactly as the API and the desk make
them, so their events, versions and parent quantities are the real thing. It lives in the
blotter app because it is the one app that may know all the others (it sends order and
execution commands alike).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from rest_framework.authtoken.models import Token

from blotter.demo import DEMO_USERS
from executions.enums import ExecStatus
from oms.core.access import DESK, VIEWER
from oms.core.dispatch import dispatch
from oms.orders.models import Order
from oms.venues import demo as sim_demo
from rules import adapters
from rules.actors import SYSTEM_PREFIX
from rules.rulebook import DuplicateRuleName
from rules.seed import seed_default_rules

ACTOR = "desk"  # the desk enters client orders and, for the MANUAL venue, the venue's reports
REFERENCE_ACTOR = f"{SYSTEM_PREFIX}seed_demo"  # instruments and books (reference data)

# the venue registry: SIM (its worker reports its feed) and MANUAL (the desk's phone), both Paper
DEMO_VENUES = (("SIM", "SIM"), ("MANUAL", "MANUAL"))
# the demo's equities, listed at XNAS (a desk venue: its orders are checked against these)
DEMO_EQUITIES = ("AAPL", "MSFT", "TSLA", "NVDA", "AMZN")
# a data rule to try in the admin (disabled: the demo book is routed by the default rules)
DEMO_RULE = {
    "commandType": "CreateRuleCommand",
    "name": "large_sim_orders_to_desk",
    "priority": 500,
    "enabled": False,
    "when": {
        "all": [
            {"field": "venue", "op": "==", "value": "SIM"},
            {"field": "notional", "op": ">", "value": "1000000"},
        ]
    },
    "action": {"handling": "Desk", "reason": "SIM order over 1,000,000 notional: the desk reviews it"},
}
# books for the price collar and the preview (venue, symbol, bids, asks), best first
DEMO_BOOKS = (
    ("SIM", "BTC-PERP", [["64000.0", "1.5"], ["63990.0", "3"]], [["64010.0", "1.2"], ["64020.0", "4"]]),
    ("SIM", "ETH-PERP", [["2000.00", "20"], ["1999.50", "60"]], [["2000.50", "25"], ["2001.00", "80"]]),
    ("XNAS", "AAPL", [["189.98", "500"], ["189.97", "1200"]], [["190.02", "400"], ["190.03", "1500"]]),
)


class Command(BaseCommand):
    help = "Create the demo groups, users (desk, viewer, admin), API tokens and a dozen demo orders."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--force", action="store_true", help="create the demo users even when DEBUG is off"
        )
        parser.add_argument("--no-orders", action="store_true", help="users and tokens only")

    def handle(self, *args: Any, force: bool = False, no_orders: bool = False, **options: Any) -> None:
        if not (settings.DEBUG or force):
            raise CommandError(
                "refusing to create users with the published demo passwords while DEBUG is off; "
                "pass --force if this really is a demo installation"
            )
        logins = self._users()
        self.stdout.write(f"demo reference data: {seed_reference_data()}")
        if no_orders:
            self.stdout.write("demo orders: skipped (--no-orders)")
        elif Order.objects.exists():
            self.stdout.write("demo orders: skipped (the database already has orders)")
        else:
            sim_ready = sim_demo.prepare(REFERENCE_ACTOR)
            with transaction.atomic():  # all or nothing: a half-made book would be skipped next time
                summary = DemoBook().build(sim=sim_ready)
            if sim_ready:
                sim_demo.settle()  # sent after commit; their fills come back on SIM's stream
            else:
                self.stdout.write(
                    "demo SIM orders: skipped (SIM's feed is not Healthy: start venue_stream SIM)"
                )
            self.stdout.write(f"demo orders: created {summary}")
        self.stdout.write("")
        self.stdout.write("Demo logins (user / password / API token):")
        for username, password, token in logins:
            self.stdout.write(f"  {username:<7} {password:<16} {token}")

    def _users(self) -> list[tuple[str, str, str]]:
        for name in (DESK, VIEWER):
            Group.objects.get_or_create(name=name)
        out = []
        for username, password, group, superuser, _may in DEMO_USERS:
            user, created = User.objects.get_or_create(
                username=username, defaults={"is_superuser": superuser, "is_staff": superuser}
            )
            if created:
                user.set_password(password)
                user.save(update_fields=["password"])
            if group:
                user.groups.add(Group.objects.get(name=group))
            token, _ = Token.objects.get_or_create(user=user)
            out.append(
                (
                    username,
                    password
                    if created or user.check_password(password)
                    else "(changed: not the demo password)",
                    token.key,
                )
            )
        return out


class DemoBook:
    """The demo orders, made command by command."""

    def __init__(self) -> None:
        self.counts = {
            "client orders": 0,
            "market orders": 0,
            "executions": 0,
            "held": 0,
            "quote requests": 0,
            "quotes": 0,
        }
        self._exec_seq = 0

    def send(self, topic: str, body: dict[str, Any]) -> dict[str, Any]:
        return dispatch(topic, body, actor=ACTOR).body

    def client(self, n: int, side: str, qty: str, symbol: str, account: str, **terms: Any) -> str:
        body = {
            "commandType": "CreateOrderCommand",
            "clOrdID": f"DEMO-{n:02d}",
            "symbol": symbol,
            "side": side,
            "orderQty": qty,
            "account": account,
            "ordType": "Limit" if "price" in terms else "Market",
            **terms,
        }
        self.counts["client orders"] += 1
        order_id: str = self.send("orders", body)["order"]["orderId"]
        return order_id

    def child(self, parent_id: str, n: int, qty: str, *, accept: bool = True) -> str:
        body = {
            "commandType": "CreateOrderCommand",
            "clOrdID": f"DEMO-{n:02d}-M1",
            "parentId": parent_id,
            "orderQty": qty,
        }
        order_id: str = self.send("orders", body)["order"]["orderId"]
        self.counts["market orders"] += 1
        if accept:
            self.send("orders", {"commandType": "AcceptOrderCommand", "orderId": order_id})
        return order_id

    def quote_request(self, n: int, side: str, qty: str, symbol: str, account: str) -> str:
        self.counts["quote requests"] += 1
        body = {
            "commandType": "CreateQuoteRequestCommand",
            "quoteReqID": f"DEMO-QR-{n}",
            "symbol": symbol,
            "side": side,
            "orderQty": qty,
            "account": account,
        }
        quote_req_id: str = self.send("quote-requests", body)["quoteRequest"]["quoteReqID"]
        return quote_req_id

    def quote(self, quote_id: str, quote_req_id: str, bid: str, offer: str, size: str) -> str:
        self.counts["quotes"] += 1
        body = {
            "commandType": "CreateQuoteCommand",
            "quoteID": quote_id,
            "quoteReqID": quote_req_id,
            "bidPx": bid,
            "offerPx": offer,
            "bidSize": size,
            "offerSize": size,
        }
        created: str = self.send("quotes", body)["quote"]["quoteId"]
        return created

    def fill(self, order_id: str, qty: str, px: str) -> dict[str, Any]:
        self._exec_seq += 1
        execution: dict[str, Any] = self.send(
            "executions",
            {
                "commandType": "ExecuteOrderCommand",
                "orderId": order_id,
                "execID": f"DEMO-X{self._exec_seq:03d}",
                "lastQty": qty,
                "lastPx": px,
                "venue": "MANUAL",
            },
        )["execution"]
        self.counts["executions"] += 1
        if execution["status"] == ExecStatus.PENDING_REVIEW:
            self.counts["held"] += 1
        return execution

    def build(self, *, sim: bool = False) -> str:
        # waiting in the desk queue: a care order, a Desk request without venue, a Desk request
        self.client(1, "Buy", "10000", "AAPL", "ALPHA", price="190.00", venue="MANUAL", text="care order")
        self.client(2, "Sell", "5000", "MSFT", "BETA", handling="Desk")
        self.client(3, "SellShort", "2000", "TSLA", "GAMMA", price="250.00", venue="XNAS", handling="Desk")

        # worked by phone (venue MANUAL): market orders accepted and partly or fully filled
        o4 = self.client(4, "Buy", "8000", "MSFT", "ALPHA", price="420.00", venue="MANUAL")
        m4 = self.child(o4, 4, "5000")
        self.fill(m4, "2000", "419.50")
        self.fill(m4, "1500", "419.80")
        o5 = self.client(5, "Sell", "3000", "AAPL", "BETA", price="188.00", venue="MANUAL")
        m5 = self.child(o5, 5, "3000")
        self.fill(m5, "1000", "188.20")
        self.fill(m5, "2000", "188.30")
        o6 = self.client(6, "Buy", "1500", "NVDA", "GAMMA", venue="MANUAL")
        self.fill(self.child(o6, 6, "1500"), "600", "121.10")

        # an execution through the limit: held PendingReview for the desk
        o7 = self.client(7, "Buy", "4000", "AAPL", "DELTA", price="189.00", venue="MANUAL")
        held = self.fill(self.child(o7, 7, "4000"), "1000", "189.40")
        if held["status"] != ExecStatus.PENDING_REVIEW:
            raise CommandError(f"expected DEMO-07's fill to be held for review, got {held['status']}")

        # cancelled, and replaced (the OMS is the client's counterparty: both take effect at once)
        o8 = self.client(8, "Sell", "2500", "TSLA", "ALPHA", price="252.00", venue="MANUAL")
        self.send("orders", {"commandType": "CancelOrderCommand", "orderId": o8, "clOrdID": "DEMO-08-C"})
        o9 = self.client(9, "Buy", "6000", "NVDA", "BETA", price="120.00", venue="MANUAL")
        self.send(
            "orders",
            {
                "commandType": "ReplaceOrderCommand",
                "orderId": o9,
                "clOrdID": "DEMO-09-R",
                "orderQty": "7000",
                "price": "120.50",
            },
        )

        # market orders still working: accepted and unfilled, and one not yet acknowledged
        self.child(
            self.client(10, "Sell", "1200", "MSFT", "DELTA", price="421.00", venue="MANUAL"), 10, "1200"
        )
        self.child(
            self.client(11, "Buy", "900", "AMZN", "GAMMA", price="185.00", venue="MANUAL"),
            11,
            "900",
            accept=False,
        )

        # handled Auto: placed at its venue by the Celery task (in-process on the embedded default)
        self.client(12, "Buy", "2000", "AMZN", "ALPHA", venue="XNAS", handling="Auto")

        # RFQ: one request quoted twice and still open; one whose quote the client accepted,
        # which made client order DEMO-13 at the quoted price (worked by the desk: MANUAL)
        open_request = self.quote_request(1, "Buy", "50", "ETH-PERP", "GAMMA")
        self.quote("DEMO-Q-1A", open_request, "1999.50", "2001.50", "50")
        self.quote("DEMO-Q-1B", open_request, "1999.80", "2001.00", "50")
        accepted_request = self.quote_request(2, "Sell", "2", "BTC-PERP", "ALPHA")
        accepted = self.quote("DEMO-Q-2A", accepted_request, "64000", "64050", "2")
        self.send(
            "quotes",
            {
                "commandType": "AcceptQuoteCommand",
                "quoteId": accepted,
                "clOrdID": "DEMO-13",
                "venue": "MANUAL",
            },
        )
        self.counts["client orders"] += 1

        if sim:
            # sent to the SIM venue by the venue worker (in-process here): one fills at once, one
            # larger than the displayed bid fills in part and keeps working
            self.client(14, "Buy", "25", "SOL-PERP", "ALPHA", venue="SIM", handling="Auto")
            self.client(15, "Sell", "60", "SOL-PERP", "BETA", venue="SIM", handling="Auto")
        return ", ".join(f"{n} {what}" for what, n in self.counts.items())


def seed_reference_data() -> str:
    """Routing rules, venues, instruments (the SIM adapter's and the demo equities), books: idempotent."""
    rules = seed_default_rules()
    try:
        if not dispatch("rules", DEMO_RULE, actor=REFERENCE_ACTOR).body["duplicate"]:
            rules.append(str(DEMO_RULE["name"]))
    except DuplicateRuleName:
        pass  # changed in the admin since: theirs stands

    def send(body: dict[str, Any]) -> dict[str, Any]:
        return dispatch("instruments", body, actor=REFERENCE_ACTOR).body

    for venue, adapter in DEMO_VENUES:
        dispatch(
            "venues",
            {"commandType": "UpsertVenueCommand", "venue": venue, "adapter": adapter, "mode": "Paper"},
            actor=REFERENCE_ACTOR,
        )
    counts = adapters.sync("SIM", send)
    for symbol in DEMO_EQUITIES:
        send(
            {
                "commandType": "UpsertInstrumentCommand",
                "venue": "XNAS",
                "symbol": symbol,
                "kind": "Equity",
                "quoteCurrency": "USD",
                "tickSize": "0.01",
                "lotSize": "1",
            }
        )
    for venue, symbol, bids, asks in DEMO_BOOKS:
        dispatch(
            "books",
            {"commandType": "SetBookCommand", "venue": venue, "symbol": symbol, "bids": bids, "asks": asks},
            actor=REFERENCE_ACTOR,
        )
    return f"rules created: {', '.join(rules) or 'none'}; {len(DEMO_VENUES)} venues, {len(DEMO_BOOKS)} books, instruments {', '.join(f'{n} {what}' for what, n in counts.items())} (SIM), {len(DEMO_EQUITIES)} equities (XNAS)"
