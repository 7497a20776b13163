"""A WaafiPay wallet subscription from the CLI: `--customer-phone` is the wallet each period is charged to,
and leaving it out is refused naming the field. Real `billing dev`, CLI as a subprocess."""

from __future__ import annotations

from tests.cli.conftest import Cli
from tests.cli.test_output import unique


def test_a_waafipay_wallet_subscription_is_created_from_the_cli(stack: Cli) -> None:
    subscription_id = unique("SUB-WALLET")
    argv = [
        "subscription", "create", "--provider", "waafipay", "--subscription-id", subscription_id,
        "--plan-id", "plan-wallet", "--amount", "2.00", "--currency", "USD", "--customer-id", "cust-wallet",
    ]  # fmt: skip

    refused = stack.run(*argv, check=False)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "customer.phone" in refused.stderr and "required" in refused.stderr, refused.stderr
    assert "--customer-phone" in refused.stderr, "the error says which option gives it"
    assert stack.run("subscription", "show", subscription_id, check=False).returncode != 0, "nothing was started"

    # Invoiced, each period is the hosted page for that wallet (MWALLET_ACCOUNT): refused the same way.
    invoiced = stack.run(*argv, "--billing", "invoice", check=False)
    assert invoiced.returncode == 2, invoiced.stdout + invoiced.stderr
    assert "customer.phone" in invoiced.stderr and "hosted page" in invoiced.stderr, invoiced.stderr
    assert stack.run("subscription", "show", subscription_id, check=False).returncode != 0, "nothing was started"

    created = stack.json(*argv, "--customer-phone", "252611111111")
    assert created["subscription_id"] == subscription_id
    active = stack.until(["subscription", "show", subscription_id], lambda s: s["status"] == "ACTIVE")
    assert active["provider"] == "waafipay"

    shown = stack.run("subscription", "create", "--help", columns=200).stdout
    assert "--customer-phone" in shown
