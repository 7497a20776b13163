"""A WaafiPay wallet subscription from the CLI: `--customer-phone` is the wallet each period is charged to,
and leaving it out is refused naming the field; `billing emulators wallet` sets how the wallet's owner answers
the next pushes, so a renewal can be declined. Real `billing dev`, CLI as a subprocess."""

from __future__ import annotations

from tests.cli.conftest import Cli
from tests.cli.test_output import lines_with, unique


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


def test_a_wallet_declines_a_push_as_billing_emulators_wallet_says(stack: Cli) -> None:
    wallet = "252611111177"
    missing = stack.run("emulators", "wallet", wallet, check=False)
    assert missing.returncode == 2 and f"the waafipay emulator has no wallet {wallet}" in missing.stderr
    set_up = stack.run("emulators", "wallet", wallet, "--balance", "50.00", "--answers", "approve, insufficient")
    assert f"wallet {wallet} · balance 50.00 · next pushes: approve, insufficient" in set_up.stdout, set_up.stdout
    shown = stack.json("emulators", "wallet", wallet)
    assert (shown["balance"], [step["action"] for step in shown["behaviour"]]) == ("50.00", ["approve", "insufficient"])

    def order(order_id: str) -> dict[str, object]:
        created: dict[str, object] = stack.json(
            "order", "create", "--provider", "waafipay", "--order-id", order_id, "--amount", "2.00",
            "--currency", "USD", "--customer-id", "cust-wallet", "--customer-phone", wallet, check=False,
        )  # fmt: skip
        return created

    assert order(unique("ORD-WLT"))["status"] == "PAID"
    declined = unique("ORD-WLT")
    assert order(declined)["status"] == "FAILED", "the second push finds the wallet short"
    assert order(unique("ORD-WLT"))["status"] == "FAILED", "the last answer stays"
    assert stack.json("emulators", "wallet", wallet)["balance"] == "48.00"

    refused = stack.run("emulators", "wallet", wallet, "--answers", "approve,maybe", check=False)
    assert refused.returncode == 2 and "answers: maybe is not one of approve" in refused.stderr, refused.stderr
    assert lines_with(stack.run("emulators", "--help").stdout, "wallet")
