"""Exit codes a script can act on: 3 when the provider refused the money operation, 4 when its outcome is
unknown or waits for an operator; an order cancelled again is a success that says so."""

from __future__ import annotations

from tests.cli.conftest import Cli
from tests.cli.test_output import unique


def paid_kess_order(stack: Cli, order_id: str) -> None:
    stack.run(
        "order", "create", "--provider", "kess", "--order-id", order_id, "--amount", "20.00", "--currency", "USD",
        "--customer-id", "cust-exit",
    )  # fmt: skip
    stack.run("emulators", "pay", "kess", order_id)
    stack.until(["order", "show", order_id], lambda order: order["status"] == "PAID", timeout=60)


def test_refund_the_provider_refused_exits_3(stack: Cli) -> None:
    order_id = unique("ORD-EXIT-REFUND")
    paid_kess_order(stack, order_id)
    # The payment check before the refund fails every attempt: the refund is refused, nothing is sent. The
    # fault is this order's alone (more than the attempts: a fault for any order's check was taken by another
    # order's polling when the tests ran side by side, and the refund then succeeded).
    stack.run("emulators", "fault", "kess", order_id, "http-500", "--operation", "payment_status", "--count", "10")
    result = stack.run("order", "refund", order_id, "--amount", "5.00", "--refund-id", "R-1", check=False)
    assert "FAILED" in result.stdout
    assert result.returncode == 3, result.stderr
    as_json = stack.run("order", "refund", order_id, "--amount", "5.00", "--refund-id", "R-1", "--json", check=False)
    assert as_json.returncode == 3, "the same refund again: the same verdict"


def test_cancelling_a_cancelled_order_is_idempotent(stack: Cli) -> None:
    order_id = unique("ORD-EXIT-CANCEL")
    stack.run(
        "order", "create", "--provider", "waffo", "--order-id", order_id, "--amount", "4.00", "--currency", "USD",
        "--customer-id", "cust-exit", "--customer-email", "exit@example.com",
    )  # fmt: skip
    stack.run("order", "cancel", order_id, "--reason", "customer left")
    stack.until(["order", "show", order_id], lambda order: order["status"] == "CANCELLED")
    again = stack.run("order", "cancel", order_id, check=False)
    assert again.returncode == 0, again.stderr
    assert "already cancelled" in again.stdout + again.stderr


def test_help_documents_the_exit_codes_and_json_is_a_flag(stack: Cli) -> None:
    top = stack.run("--help").stdout
    assert "3" in top and "refused" in top and "4" in top and "unknown" in top
    shown = stack.run("order", "show", "--help").stdout
    assert "--json" in shown
    assert all("<bool>" not in line for line in shown.splitlines() if "--json" in line)


def test_order_the_provider_refused_at_creation_exits_3(stack: Cli) -> None:
    order_id = unique("ORD-EXIT-DECLINED")
    # Waffo sandbox amount 9.10 answers C0001: the payment is refused, nothing is created.
    result = stack.run(
        "order", "create", "--provider", "waffo", "--order-id", order_id, "--amount", "9.10", "--currency", "USD",
        "--customer-id", "cust-exit", "--customer-email", "exit@example.com", "--json", check=False,
    )  # fmt: skip
    assert result.returncode == 3, result.stdout + result.stderr
    assert '"status": "FAILED"' in result.stdout, "the JSON is printed before the exit code"
