"""What the CLI prints is whole: a URL, an id or a date is never cut or wrapped, at 80 or 200 columns or
piped into another program (no COLUMNS: rich's default width). Real `billing dev`, CLI as a subprocess."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest

from tests.cli.conftest import Cli

WIDTHS = [80, 200, None]  # None: piped with no terminal width at all


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10].upper()}"


def lines_with(output: str, needle: str) -> list[str]:
    return [line for line in output.splitlines() if needle in line]


def assert_whole(output: str, value: str) -> None:
    assert lines_with(output, value), f"{value!r} is not whole on any line of:\n{output}"


def day(value: str) -> str:
    return datetime.fromisoformat(value).strftime("%Y-%m-%d")


def waffo_subscription(stack: Cli) -> str:
    subscription_id = unique("SUB-OUTPUT-WITH-A-LONG-MERCHANT-ID")
    stack.run(
        "subscription", "create", "--provider", "waffo", "--subscription-id", subscription_id,
        "--plan-id", "plan-basic", "--amount", "9.99", "--currency", "USD",
        "--customer-id", "cust-output", "--customer-email", "out@example.com",
    )  # fmt: skip
    return subscription_id


@pytest.mark.parametrize("columns", WIDTHS)
def test_subscription_authorization_url_is_printed_whole(stack: Cli, columns: int | None) -> None:
    subscription_id = waffo_subscription(stack)
    url = stack.json("subscription", "show", subscription_id)["customer_action"]["url"]
    shown = stack.run("subscription", "show", subscription_id, columns=columns).stdout
    assert_whole(shown, url)
    assert_whole(shown, subscription_id)


@pytest.mark.parametrize("columns", WIDTHS)
def test_waafipay_hosted_page_url_is_printed_whole(stack: Cli, columns: int | None) -> None:
    order_id = unique("ORD-HPP-WITH-A-LONG-MERCHANT-ORDER-ID")
    created = stack.run(
        "order", "create", "--provider", "waafipay", "--payment-method", "HPP", "--order-id", order_id,
        "--amount", "10.00", "--currency", "USD", "--customer-id", "cust-output", "--customer-phone", "252611111111",
        columns=columns,
    ).stdout  # fmt: skip
    url = stack.json("order", "show", order_id)["customer_action"]["url"]
    assert_whole(created, url)
    assert_whole(created, order_id)


def test_active_subscription_dates_and_management_link_are_whole(stack: Cli) -> None:
    subscription_id = waffo_subscription(stack)
    stack.run("emulators", "pay", "waffo", subscription_id, "--subscription")
    active = stack.until(["subscription", "show", subscription_id], lambda sub: sub["status"] == "ACTIVE")
    link = stack.json("subscription", "manage", subscription_id)["url"]
    for columns in WIDTHS:
        shown = stack.run("subscription", "show", subscription_id, columns=columns).stdout
        for period in active["periods"]:
            assert_whole(shown, day(period["start"]))
            assert_whole(shown, day(period["end"]))
        manage = stack.run("subscription", "manage", subscription_id, columns=columns).stdout.strip()
        # Each link carries a new token: the same link but for its last characters, on one line.
        assert "\n" not in manage and len(manage) == len(link), manage
        assert manage.rsplit("=", 1)[0] == link.rsplit("=", 1)[0]
