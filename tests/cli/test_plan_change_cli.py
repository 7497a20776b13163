"""A Waffo plan change is authorized from the CLI: `billing emulators pay waffo SUB --subscription` acts on the
change waiting for the customer (the new Waffo subscription), not on the ACTIVE one it replaces. Real
`billing dev`, CLI as a subprocess."""

from __future__ import annotations

from tests.cli.conftest import Cli
from tests.cli.test_output import unique


def test_a_waffo_plan_change_is_authorized_from_the_cli(stack: Cli) -> None:
    subscription_id = unique("SUB-CHG")
    stack.run(
        "subscription", "create", "--provider", "waffo", "--subscription-id", subscription_id, "--plan-id", "basic",
        "--amount", "9.99", "--currency", "USD", "--customer-id", "cust-chg", "--customer-email", "chg@example.com",
    )  # fmt: skip
    first = stack.run("emulators", "pay", "waffo", subscription_id, "--subscription")
    assert "authorized" in first.stdout or "paid" in first.stdout, first.stdout
    stack.until(["subscription", "show", subscription_id], lambda s: s["status"] == "ACTIVE")

    changing = stack.run("subscription", "change-plan", subscription_id, "--plan-id", "pro", "--amount", "19.99")
    assert f"billing emulators pay waffo {subscription_id} --subscription" in changing.stdout, changing.stdout

    authorized = stack.run("emulators", "pay", "waffo", subscription_id, "--subscription")
    assert "plan change" in authorized.stdout and "pro" in authorized.stdout, authorized.stdout
    changed = stack.until(["subscription", "show", subscription_id], lambda s: s["plan"]["plan_id"] == "pro")
    assert changed["pending_change"] is None and changed["status"] == "ACTIVE"

    again = stack.run("emulators", "pay", "waffo", subscription_id, "--subscription", check=False)
    assert again.returncode != 0, "nothing waits for the customer any more"
    assert "ACTIVE" in again.stderr, again.stderr
