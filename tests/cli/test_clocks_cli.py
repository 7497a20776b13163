"""`billing clock` against a real `billing dev`: a wallet subscription attached to a test clock renews twice
in one `advance --by`, with a progress line per step; the CLI finds that test clocks are allowed from the
stack's env file. And (slow) the year of tests/subscriptions/test_year.py from `billing` commands: a coupon,
an upgrade, a declined renewal paid by dunning, a refund's credit note and a downgrade paid out of the
customer's balance, every invoice checked. Real `billing dev`, CLI as a subprocess."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from tests.cli.conftest import Cli
from tests.cli.test_output import lines_with, unique


def test_advance_a_clock_through_two_renewals_from_the_cli(stack: Cli) -> None:
    clock = stack.json("clock", "create", "--start", "2027-01-01T00:00:00+00:00")
    assert clock["now"] == "2027-01-01T00:00:00Z" and clock["attached"] == []
    clock_id = clock["clock_id"]
    subscription_id = unique("SUB-CLOCK")
    argv = [
        "subscription", "create", "--provider", "waafipay", "--subscription-id", subscription_id,
        "--plan-id", "plan-clock", "--amount", "2.00", "--currency", "USD", "--customer-id", "cust-clock",
        "--customer-phone", "252611111111",
    ]  # fmt: skip
    created = stack.json(*argv, "--test-clock", clock_id)
    assert created["calendar"]["anchor"] == "2027-01-01T00:00:00Z"

    advanced = stack.run("clock", "advance", clock_id, "--by", "65d").stdout
    # One line per step: the clock's time and when the subscription next has something to do.
    assert lines_with(advanced, "2027-01-01T00:00:00+00:00: 1 subscription(s) idle · next due 2027-02-01"), advanced
    assert lines_with(advanced, "2027-02-01T00:00:00+00:00: 1 subscription(s) idle · next due 2027-03-01"), advanced
    assert lines_with(advanced, "2027-03-07T00:00:00+00:00: 1 subscription(s) idle · next due 2027-04-01"), advanced

    shown = stack.json("clock", "show", clock_id)
    assert shown["now"] == "2027-03-07T00:00:00Z"
    assert shown["attached"] == [f"subscription-{subscription_id}"]
    subscription = stack.json("subscription", "show", subscription_id)
    assert subscription["status"] == "ACTIVE" and subscription["current_period"] == 3
    invoices = stack.json("invoice", "list", "--subscription", subscription_id)
    assert [(i["invoice_id"], i["state"], i["created_at"]) for i in invoices] == [
        (f"{subscription_id}-p1", "paid", "2027-01-01T00:00:00Z"),
        (f"{subscription_id}-p2", "paid", "2027-02-01T00:00:00Z"),
        (f"{subscription_id}-p3", "paid", "2027-03-01T00:00:00Z"),
    ]
    numbers = [i["number"] for i in invoices]
    assert numbers == sorted(numbers), "numbered in the order they were issued"

    backwards = stack.run("clock", "advance", clock_id, "--to", "2027-01-01", check=False)
    assert backwards.returncode == 2 and "to: the clock is at 2027-03-07" in backwards.stderr, backwards.stderr

    provider_managed = [
        "subscription", "create", "--provider", "waffo", "--subscription-id", unique("SUB-PM"), "--plan-id", "p",
        "--amount", "9.99", "--currency", "USD", "--customer-id", "c", "--customer-email", "c@example.com",
        "--billing", "provider", "--test-clock", clock_id,
    ]  # fmt: skip
    refused = stack.run(*provider_managed, check=False)
    assert refused.returncode == 2 and "test_clock:" in refused.stderr, refused.stderr


#: The year by hand, from the plans (basic 30.00, pro 60.00, lite 10.00 a month), the coupon (20 % off periods
#: 1 to 3) and the dates (the clock starts on April 1, 2027; the upgrade half-way through April, the downgrade
#: half-way through September, both 30-day months): invoice suffix, state, total, amount due, amount paid.
#: c1 is the upgrade (half of basic's discounted 24.00 credited, half of pro's discounted 48.00 charged); p2's
#: first push is declined and its dunning retry a day later pays it; the downgrade's net -25.00 goes to the
#: customer's balance and pays p7, p8 and half of p9.
YEAR: list[tuple[str, str, int, int, int]] = [
    ("p1", "paid", 2400, 2400, 2400),
    ("c1", "paid", 1200, 1200, 1200),
    ("p2", "paid", 4800, 4800, 4800),
    ("p3", "paid", 4800, 4800, 4800),
    ("p4", "paid", 6000, 6000, 6000),
    ("p5", "paid", 6000, 6000, 6000),
    ("p6", "paid", 6000, 6000, 6000),
    ("p7", "paid", 1000, 0, 0),
    ("p8", "paid", 1000, 0, 0),
    ("p9", "paid", 1000, 500, 500),
    ("p10", "paid", 1000, 1000, 1000),
    ("p11", "paid", 1000, 1000, 1000),
    ("p12", "paid", 1000, 1000, 1000),
    ("p13", "paid", 1000, 1000, 1000),
]


@pytest.mark.slow
def test_a_year_of_a_wallet_subscription_through_clock_advance(stack: Cli) -> None:
    """The year of tests/subscriptions/test_year.py from the CLI alone; the wallet's owner answers the pushes
    as `billing emulators wallet` says."""
    wallet = f"2526{uuid.uuid4().int % 10**8:08d}"
    customer_id, subscription_id, code = unique("cust-year"), unique("SUB-YEAR"), unique("YEAR20")
    # One answer per push: p1, the upgrade, p2 short of balance, p2's retry; the last answer stays.
    stack.run("emulators", "wallet", wallet, "--balance", "500.00", "--answers", "approve,approve,insufficient,approve")
    stack.run("coupon", "create", code, "--percent-off", "20", "--duration", "repeating", "--periods", "3")
    clock_id = stack.json("clock", "create", "--start", "2027-04-01")["clock_id"]
    stack.run(
        "subscription", "create", "--provider", "waafipay", "--subscription-id", subscription_id,
        "--plan-id", "basic", "--amount", "30.00", "--currency", "USD", "--customer-id", customer_id,
        "--customer-phone", wallet, "--coupon", code, "--test-clock", clock_id,
    )  # fmt: skip
    advancing = 0.0

    def advance(*argv: str) -> str:
        nonlocal advancing
        started = time.monotonic()
        out = stack.run("clock", "advance", clock_id, *argv).stdout
        advancing += time.monotonic() - started
        return out

    def invoice(suffix: str) -> dict[str, Any]:
        found: dict[str, Any] = stack.json("invoice", "show", f"{subscription_id}-{suffix}")
        return found

    # Half-way through April: the upgrade is charged at once, on the discounted prices.
    advance("--to", "2027-04-16")
    upgraded = stack.run("subscription", "change-plan", subscription_id, "--plan-id", "pro", "--amount", "60.00")
    assert upgraded.returncode == 0, upgraded.stderr
    listed = stack.until(
        ["invoice", "list", "--subscription", subscription_id], lambda found: found[-1]["state"] == "paid"
    )
    c1 = listed[-1]
    assert c1["invoice_id"] == f"{subscription_id}-c1"
    assert [(line["kind"], line["amount"]["amount_minor"]) for line in c1["lines"]] == [
        ("proration_credit", -1200),
        ("proration_charge", 2400),
    ]

    # May 1: the wallet is short; the subscription is past due until the dunning retry on May 2 pays p2.
    may = advance("--to", "2027-05-03")
    assert lines_with(may, "2027-05-01T00:00:00+00:00: 1 subscription(s) idle · next due 2027-05-02"), may
    assert lines_with(may, "2027-05-03T00:00:00+00:00: 1 subscription(s) idle · next due 2027-06-01"), may
    assert invoice("p2")["order_id"] == f"{subscription_id}-p2-r1"
    stack.run("order", "refund", f"{subscription_id}-p2-r1", "--amount", "8.00", "--refund-id", "r-p2",
              "--reason", "outage")  # fmt: skip
    (note,) = stack.until(["invoice", "credit-notes", "--subscription", subscription_id], lambda n: len(n) == 1)
    assert (note["invoice_number"], note["amount"], note["refund_id"]) == (invoice("p2")["number"], 800, "r-p2")

    # Half-way through September: the downgrade's unused part goes to the customer's balance.
    advance("--to", "2027-09-16")
    preview = stack.json("subscription", "preview-change", subscription_id, "--plan-id", "lite", "--amount", "10.00")
    assert [preview[k]["amount_minor"] for k in ("credit", "charge", "net")] == [-3000, 500, -2500]
    stack.run("subscription", "change-plan", subscription_id, "--plan-id", "lite", "--amount", "10.00")
    balance = stack.until(["customer", "balance", customer_id], lambda b: b["balances"][0]["amount_minor"] == 2500)
    assert balance["balances"] == [{"amount_minor": 2500, "currency": "USD"}]

    # The rest of the year, to the next April 1.
    rest = advance("--to", "2028-04-01")
    assert lines_with(rest, "2028-04-01T00:00:00+00:00: 1 subscription(s) idle · next due 2028-05-01"), rest
    print(f"a year of clock advance in {advancing:.1f} s")

    invoices = stack.json("invoice", "list", "--subscription", subscription_id)
    assert [
        (i["invoice_id"].removeprefix(f"{subscription_id}-"), i["state"], i["total"], i["amount_due"], i["amount_paid"])
        for i in invoices
    ] == YEAR
    numbers = [i["number"] for i in invoices]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    table = stack.run("invoice", "list", "--subscription", subscription_id).stdout
    for suffix, total, due in (("p1", "24.00", "24.00"), ("c1", "12.00", "12.00"), ("p7", "10.00", "0.00")):
        [row] = lines_with(table, f"{subscription_id}-{suffix} ")
        assert f"{total} USD" in row and f"{due} USD" in row and "paid" in row, row
    assert stack.json("customer", "balance", customer_id, "--currency", "USD")["balances"] == [
        {"amount_minor": 0, "currency": "USD"}
    ]
    assert stack.json("invoice", "credit-notes", "--subscription", subscription_id) == [note]
    subscription = stack.json("subscription", "show", subscription_id)
    assert (subscription["status"], subscription["current_period"], subscription["plan"]["plan_id"]) == (
        "ACTIVE", 13, "lite",
    )  # fmt: skip
    # The upgrade's charge is noted once, at the clock's time it was paid.
    assert [(e["at"], e["detail"]) for e in subscription["timeline"] if e["event"] == "adjustment"] == [
        ("2027-04-16T00:00:00Z", f"upgrade to pro: 12.00 USD paid ({subscription_id}-c1)")
    ]
    shown = stack.json("clock", "show", clock_id)
    assert shown["now"] == "2028-04-01T00:00:00Z" and shown["attached"] == [f"subscription-{subscription_id}"]
