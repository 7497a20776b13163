"""The CLI passes only the timing the user set: a provider's own timing rule (KESS quick pay's 45 s hold)
applies unless overridden, and a payment window the provider cannot honour is refused, naming the field."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.cli.conftest import Cli
from tests.cli.test_output import unique

QUICK_PAY = ("--provider", "kess", "--payment-method", "QUICKPAY:134567890123456789")


def quick_pay(order_id: str, *extra: str) -> tuple[str, ...]:
    return (
        "order", "create", *QUICK_PAY, "--order-id", order_id, "--amount", "8.00", "--currency", "USD",
        "--customer-id", "cust-quick", *extra,
    )  # fmt: skip


def test_quick_pay_from_the_cli_keeps_the_providers_45_s_window(stack: Cli) -> None:
    order = stack.json(*quick_pay(unique("ORD-QUICK")))
    window = datetime.fromisoformat(order["deadline"]) - datetime.fromisoformat(order["created_at"])
    assert window == timedelta(seconds=45), order["timeline"]


def test_a_window_quick_pay_cannot_honour_is_refused_naming_the_field(stack: Cli) -> None:
    order_id = unique("ORD-QUICK-LONG")
    result = stack.run(*quick_pay(order_id, "--payment-window", "30"), check=False)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "payment_window" in result.stderr and "45" in result.stderr, result.stderr
    missing = stack.run("order", "show", order_id, check=False)
    assert missing.returncode != 0, "nothing was created"


def test_a_window_the_user_sets_is_kept(stack: Cli) -> None:
    order = stack.json(
        "order", "create", "--provider", "kess", "--order-id", unique("ORD-WINDOW"), "--amount", "8.00",
        "--currency", "USD", "--customer-id", "cust-window", "--payment-window", "5",
    )  # fmt: skip
    window = datetime.fromisoformat(order["deadline"]) - datetime.fromisoformat(order["created_at"])
    assert window == timedelta(minutes=5)
