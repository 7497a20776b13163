"""`billing customer credit|balance` on a real `billing dev`, the CLI as a subprocess: amounts in major units,
a credit idempotent by its reference, the balance per currency with its ledger, bad input named (exit 2)."""

from __future__ import annotations

from tests.cli.conftest import Cli
from tests.cli.test_output import unique


def test_customer_credit_and_balance(stack: Cli) -> None:
    customer = unique("cust-bal")
    first = stack.json(
        "customer", "credit", customer, "--amount", "12.50", "--currency", "USD", "--reason", "goodwill",
        "--reference", "ticket-1",
    )  # fmt: skip
    assert first["amount"] == {"amount_minor": 1250, "currency": "USD"}
    assert first["balance_after"]["amount_minor"] == 1250 and first["kind"] == "credit" and first["seq"] == 1
    again = stack.json(
        "customer", "credit", customer, "--amount", "12.50", "--currency", "USD", "--reason", "goodwill",
        "--reference", "ticket-1",
    )  # fmt: skip
    assert again == first, "the same reference credits once"
    yen = stack.run("customer", "credit", customer, "--amount", "300", "--currency", "JPY", "--reason", "promo")
    assert "credited 300 JPY" in yen.stdout and "reference manual-" in yen.stdout

    balance = stack.json("customer", "balance", customer)
    assert balance["balances"] == [
        {"amount_minor": 300, "currency": "JPY"},
        {"amount_minor": 1250, "currency": "USD"},
    ]
    assert [e["reference"] for e in balance["recent"]][1] == "ticket-1" and balance["entries"] == 2
    only_usd = stack.json("customer", "balance", customer, "--currency", "usd")
    assert only_usd["balances"] == [{"amount_minor": 1250, "currency": "USD"}]
    assert [e["reference"] for e in only_usd["recent"]] == ["ticket-1"]
    shown = stack.run("customer", "balance", customer).stdout
    for text in ("12.50 USD", "300 JPY", "goodwill", "ticket-1", "credit"):
        assert text in shown, text

    nobody = stack.json("customer", "balance", unique("cust-none"), "--currency", "EUR")
    assert nobody["balances"] == [{"amount_minor": 0, "currency": "EUR"}] and nobody["recent"] == []

    for argv, field in (
        (["--amount", "1.234", "--currency", "USD", "--reason", "x"], "amount"),
        (["--amount", "0", "--currency", "USD", "--reason", "x"], "amount"),
        (["--amount", "1", "--currency", "XXQ", "--reason", "x"], "currency"),
        (["--amount", "1", "--currency", "USD", "--reason", " "], "reason"),
    ):
        refused = stack.run("customer", "credit", customer, *argv, check=False)
        assert refused.returncode == 2, refused.stderr
        assert f"{field}:" in refused.stderr, refused.stderr
    conflict = stack.run(
        "customer", "credit", customer, "--amount", "13.00", "--currency", "USD", "--reason", "goodwill",
        "--reference", "ticket-1", check=False,
    )  # fmt: skip
    assert conflict.returncode == 2 and "reference:" in conflict.stderr
    assert stack.json("customer", "balance", customer, "--currency", "USD")["balances"][0]["amount_minor"] == 1250
