"""`billing clock` against a real `billing dev`: a wallet subscription attached to a test clock renews twice
in one `advance --by`, with a progress line per step; the CLI finds that test clocks are allowed from the
stack's env file. Real `billing dev`, CLI as a subprocess."""

from __future__ import annotations

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
