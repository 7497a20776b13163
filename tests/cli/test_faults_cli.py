"""Faults and review from the CLI: `billing emulators fault` scoped to one order, `billing emulators faults`
to list and clear them, and `billing order create --dev-windows` so an order the provider never answers
reaches NEEDS_REVIEW in about a minute and is resolved from `billing review`. Real `billing dev`, CLI as a
subprocess."""

from __future__ import annotations

import time

from billing.idempotency import payment_key
from tests.cli.conftest import Cli
from tests.cli.test_output import unique


def create(stack: Cli, order_id: str, *extra: str, check: bool = True) -> object:
    return stack.run(
        "order", "create", "--order-id", order_id, "--amount", "5.00", "--currency", "USD",
        "--customer-id", "cust-fault", "--customer-email", "fault@example.com", *extra, check=check,
    )  # fmt: skip


def test_a_fault_for_one_order_leads_to_review_and_is_resolved_from_the_cli(stack: Cli) -> None:
    order_id, other_id = unique("ORD-FLT"), unique("ORD-OK")
    queued = stack.run("emulators", "fault", "waffo", order_id, "http-500", "--count", "1000")
    assert f"http-500 on every call about order {order_id}" in queued.stdout, queued.stdout
    listed = stack.json("emulators", "faults", "waffo")
    [fault] = [f for f in listed["waffo"] if f["params"].get("about") == f"order {order_id}"]
    assert payment_key(order_id) in fault["scope"] and fault["count"] == 1000
    for columns in (80, 200, None):  # the kind as `billing emulators fault` takes it, at any width or piped
        table = stack.run("emulators", "faults", columns=columns).stdout
        assert f"order {order_id}" in table and "http-500" in table and "http_500" not in table, table

    other = stack.json("order", "create", "--order-id", other_id, "--amount", "5.00", "--currency", "USD",
                       "--customer-id", "cust-fault", "--customer-email", "fault@example.com")  # fmt: skip
    assert other["status"] == "PENDING", "a fault scoped to another order leaves this one alone"

    started = time.monotonic()
    unknown = stack.run("order", "create", "--order-id", order_id, "--amount", "5.00", "--currency", "USD",
                        "--customer-id", "cust-fault", "--customer-email", "fault@example.com", "--dev-windows",
                        check=False)  # fmt: skip
    assert unknown.returncode == 4, unknown.stdout + unknown.stderr
    assert "UNKNOWN" in unknown.stdout
    review = stack.until(["order", "show", order_id], lambda o: o["status"] == "NEEDS_REVIEW", timeout=120)
    took = time.monotonic() - started
    assert took < 90, f"NEEDS_REVIEW after {took:.0f} s"
    print(f"UNKNOWN -> NEEDS_REVIEW in {took:.0f} s")
    assert review["review"] is not None

    queue = stack.run("review").stdout
    assert order_id in queue and f"billing order resolve {order_id}" in queue, queue
    stack.run("order", "resolve", order_id, "--status", "FAILED", "--operator", "ops", "--reason", "provider down")
    assert stack.json("order", "show", order_id)["status"] == "FAILED"

    cleared = stack.run("emulators", "faults", "waffo", "--clear")
    assert "cleared" in cleared.stdout
    assert stack.json("emulators", "faults", "waffo") == {"waffo": []}


def test_a_dropped_webhook_is_made_up_for_by_inquiry(stack: Cli) -> None:
    order_id = unique("ORD-DROP")
    stack.run("emulators", "fault", "waffo", order_id, "drop-webhook")
    listed = [line for line in stack.run("emulators", "faults", "waffo").stdout.splitlines() if order_id in line]
    assert listed and "drop-webhook" in listed[0], listed
    create(stack, order_id, "--dev-windows")
    stack.run("emulators", "pay", "waffo", order_id)
    paid = stack.until(["order", "show", order_id], lambda o: o["status"] == "PAID", timeout=30)
    sources = {entry["event"] for entry in paid["timeline"]}
    assert "notification" not in sources, paid["timeline"]


def test_bad_fault_requests_are_refused(stack: Cli) -> None:
    wrong_kind = stack.run("emulators", "fault", "waffo", "X-1", "meteor", check=False)
    assert wrong_kind.returncode == 2 and "kind: must be one of" in wrong_kind.stderr
    no_webhooks = stack.run("emulators", "fault", "kess", "X-1", "drop-webhook", check=False)
    assert no_webhooks.returncode == 2 and "drop-webhook is for waffo" in no_webhooks.stderr
    declined = stack.run("emulators", "fault", "waffo", "NO-SUCH", "decline", "--code", "C0005", check=False)
    assert declined.returncode != 0 and "has no order NO-SUCH" in declined.stderr
    assert "--subscription" in stack.run("emulators", "fault", "--help").stdout


def test_a_declined_renewal_from_the_cli_makes_the_subscription_past_due(stack: Cli) -> None:
    subscription_id = unique("SUB-DECL")
    stack.run(
        "subscription", "create", "--subscription-id", subscription_id, "--plan-id", "basic", "--amount", "3.00",
        "--currency", "USD", "--customer-id", "cust-fault", "--customer-email", "fault@example.com",
    )  # fmt: skip
    stack.run("emulators", "pay", "waffo", subscription_id, "--subscription")
    stack.until(["subscription", "show", subscription_id], lambda s: s["status"] == "ACTIVE")
    declined = stack.run("emulators", "fault", "waffo", subscription_id, "decline", "--subscription", "--code", "C0005")
    assert f"the renewal of subscription {subscription_id} was declined with C0005" in declined.stdout
    stack.until(["subscription", "show", subscription_id], lambda s: s["status"] == "PAST_DUE")
