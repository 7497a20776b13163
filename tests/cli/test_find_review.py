"""Finding orders and subscriptions over Temporal visibility, and the operator's review queue.

Visibility on the dev server is eventually consistent: every look-up polls with a bound."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.cli.conftest import Cli
from tests.cli.test_output import unique


def create_waffo_order(stack: Cli, order_id: str, customer_id: str, amount: str = "10.00") -> None:
    stack.run(
        "order", "create", "--provider", "waffo", "--order-id", order_id, "--amount", amount, "--currency", "USD",
        "--customer-id", customer_id, "--customer-email", "find@example.com", check=False,
    )  # fmt: skip


def test_orders_are_found_by_customer_status_and_provider_page_by_page(stack: Cli) -> None:
    customer = unique("cust-find")
    first, second = unique("ORD-FIND-A"), unique("ORD-FIND-B")
    create_waffo_order(stack, first, customer)
    create_waffo_order(stack, second, customer)
    stack.run("emulators", "pay", "waffo", first)
    stack.until(["order", "show", first], lambda order: order["status"] == "PAID")

    listed = stack.until(
        ["order", "list", "--customer-id", customer],
        lambda page: (
            {row["order_id"] for row in page["orders"]} == {first, second}
            and any(row["status"] == "PAID" for row in page["orders"])
        ),
    )
    assert all(row["provider"] == "waffo" and row["customer_id"] == customer for row in listed["orders"])
    paid = stack.json("order", "list", "--customer-id", customer, "--status", "PAID")
    assert [row["order_id"] for row in paid["orders"]] == [first]
    assert stack.json("order", "list", "--customer-id", customer, "--provider", "kess")["orders"] == []

    page_one = stack.json("order", "list", "--customer-id", customer, "--limit", "1")
    assert len(page_one["orders"]) == 1 and page_one["next_page_token"]
    page_two = stack.json(
        "order", "list", "--customer-id", customer, "--limit", "1", "--page-token", page_one["next_page_token"]
    )
    assert {page_one["orders"][0]["order_id"], page_two["orders"][0]["order_id"]} == {first, second}

    raw = stack.json("order", "list", "--query", f'CustomerId = "{customer}" AND BillingStatus = "PAID"')
    assert [row["order_id"] for row in raw["orders"]] == [first]

    table = stack.run("order", "list", "--customer-id", customer, columns=80).stdout
    assert any(first in line for line in table.splitlines()) and "PAID" in table
    assert "--page-token" not in table or "next" in table


def test_a_bad_filter_is_refused_with_exit_2(stack: Cli) -> None:
    result = stack.run("order", "list", "--status", "SHIPPED", check=False)
    assert result.returncode == 2 and "status" in result.stderr
    result = stack.run("order", "list", "--query", "CustomerId = = 'x'", check=False)
    assert result.returncode == 2 and "query" in result.stderr


def test_subscriptions_are_found_by_customer(stack: Cli) -> None:
    customer = unique("cust-subfind")
    subscription_id = unique("SUB-FIND")
    stack.run(
        "subscription", "create", "--provider", "waffo", "--subscription-id", subscription_id,
        "--plan-id", "plan-find", "--amount", "5.00", "--currency", "USD",
        "--customer-id", customer, "--customer-email", "sf@example.com",
    )  # fmt: skip
    listed = stack.until(
        ["subscription", "list", "--customer-id", customer, "--status", "INCOMPLETE"],
        lambda page: [row["subscription_id"] for row in page["subscriptions"]] == [subscription_id],
    )
    assert listed["subscriptions"][0]["amount"] == {"amount_minor": 500, "currency": "USD"}


@pytest.fixture
def waffo_without_answers(stack: Cli) -> Iterator[None]:
    """Waffo accepts the order (sandbox amount 9.20: E0001) and then answers no inquiry."""
    stack.fault("waffo", "order/inquiry", "http_500", count=500)
    yield
    httpx.delete(f"{stack.emulators_url}/waffo/control/faults", timeout=10).raise_for_status()


def test_unknown_order_exits_4_and_waits_in_the_review_queue_with_the_command_that_settles_it(
    stack: Cli, waffo_without_answers: None
) -> None:
    order_id = unique("ORD-REVIEW-UNKNOWN")
    created = stack.run(
        "order", "create", "--provider", "waffo", "--order-id", order_id, "--amount", "9.20", "--currency", "USD",
        "--customer-id", "cust-review", "--customer-email", "r@example.com", check=False,
    )  # fmt: skip
    assert created.returncode == 4, created.stdout + created.stderr
    assert "UNKNOWN" in created.stdout

    queue = stack.until(
        ["review", "--unknown-older-than", "0s"],
        lambda items: any(item["id"] == order_id for item in items["items"]),
    )
    item = next(item for item in queue["items"] if item["id"] == order_id)
    assert item["kind"] == "order" and item["status"] == "UNKNOWN"
    assert item["reason"]
    assert order_id in item["command"]
    started = [entry["since"] for entry in queue["items"]]
    assert started == sorted(started), "oldest first"

    checked = stack.run(*item["command"].split()[1:], "--json")  # billing order check ORD: asks the provider now
    assert f'"order_id": "{order_id}"' in checked.stdout

    fresh = stack.json("review", "--unknown-older-than", "15m")
    assert order_id not in [entry["id"] for entry in fresh["items"]], "not unknown for 15 minutes yet"

    text = stack.run("review", "--unknown-older-than", "0s", columns=80).stdout
    assert any(order_id in line for line in text.splitlines())
    assert any(item["command"] in line for line in text.splitlines()), "the command, whole, to copy"

    # The timeline says once, plainly, that the provider did not answer.
    shown = stack.run("order", "show", order_id).stdout
    for line in shown.splitlines():
        assert "ApplicationError" not in line, line
        assert "OutcomeUnknown" not in line, line


def test_commands_find_the_stack_on_other_ports_by_its_data_directory(stack: Cli) -> None:
    # The stack runs on free ports, not the defaults; no BILLING_* variable is set (see conftest).
    assert stack.run("order", "show", "NO-SUCH-ORDER", check=False).stderr.count("no order NO-SUCH-ORDER") == 1
    dev_help = stack.run("dev", "--help").stdout
    for option in ("--temporal-port", "--ui-port", "--emulator-port", "--http-port", "--data-dir"):
        assert option in dev_help


def test_an_explicit_address_wins_over_the_dev_stack(stack: Cli) -> None:
    from host.serving import free_port
    from tests.cli.conftest import clean_environment

    nowhere = f"127.0.0.1:{free_port()}"
    result = stack.run(
        "order", "show", "X", check=False, env=clean_environment(BILLING_TEMPORAL_ADDRESS=nowhere, COLUMNS="200")
    )
    assert result.returncode == 78 and nowhere in result.stderr


def test_past_due_subscription_waits_in_the_review_queue(stack: Cli) -> None:
    subscription_id = unique("SUB-REVIEW-PAST-DUE")
    stack.run(
        "subscription", "create", "--provider", "waffo", "--subscription-id", subscription_id,
        "--plan-id", "plan-review", "--amount", "3.00", "--currency", "USD",
        "--customer-id", "cust-review", "--customer-email", "pd@example.com",
    )  # fmt: skip
    stack.run("emulators", "pay", "waffo", subscription_id, "--subscription")
    stack.until(["subscription", "show", subscription_id], lambda sub: sub["status"] == "ACTIVE")
    stack.run("emulators", "renew", "waffo", subscription_id, "--fail")
    stack.until(["subscription", "show", subscription_id], lambda sub: sub["status"] == "PAST_DUE")

    queue = stack.until(
        ["review", "--no-refunds"], lambda items: any(item["id"] == subscription_id for item in items["items"])
    )
    item = next(item for item in queue["items"] if item["id"] == subscription_id)
    assert (item["kind"], item["status"]) == ("subscription", "PAST_DUE")
    assert "renewal payment failed" in item["reason"]
    assert item["command"] == f"billing subscription cancel {subscription_id} --reason <why>"
    listed = stack.json("subscription", "list", "--status", "PAST_DUE", "--customer-id", "cust-review")
    assert subscription_id in [row["subscription_id"] for row in listed["subscriptions"]]
