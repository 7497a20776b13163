"""Small things an operator reads: emulator answers in plain words, a line while a WaafiPay wallet push
waits for the payer, an invoiced period's link or QR on the subscription itself, percentages rounded
exactly. Real `billing dev`, CLI as a subprocess."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction

import pytest

from starter.render import percent_text
from tests.cli.conftest import Cli, clean_environment
from tests.cli.test_output import WIDTHS, assert_whole, unique


def waffo_order(stack: Cli, order_id: str) -> None:
    stack.run(
        "order", "create", "--provider", "waffo", "--order-id", order_id, "--amount", "3.00", "--currency", "USD",
        "--customer-id", "cust-plain", "--customer-email", "plain@example.com",
    )  # fmt: skip


def test_emulator_answers_are_plain_sentences(stack: Cli) -> None:
    order_id = unique("ORD-PLAIN")
    waffo_order(stack, order_id)
    paid = stack.run("emulators", "pay", "waffo", order_id)
    assert paid.stdout.strip() == f"waffo emulator: the customer paid order {order_id}"

    missing = stack.run("emulators", "pay", "waffo", "NO-SUCH-ORDER", check=False)
    assert missing.returncode != 0
    assert "the waffo emulator has no order NO-SUCH-ORDER" in missing.stderr, missing.stderr
    assert "did" not in missing.stderr and "does not know" not in missing.stderr

    abandoned = stack.run("emulators", "fail", "kess", "NO-SUCH-ORDER", check=False)
    assert "the kess emulator has no order NO-SUCH-ORDER" in abandoned.stderr, abandoned.stderr

    subscription = stack.run("emulators", "pay", "waffo", "NO-SUCH-SUB", "--subscription", check=False)
    assert "the waffo emulator has no subscription NO-SUCH-SUB" in subscription.stderr, subscription.stderr


def test_a_wallet_push_says_the_payer_is_being_asked_while_it_waits(stack: Cli) -> None:
    order_id = unique("ORD-PUSH")
    process = subprocess.Popen(
        [sys.executable, "-m", "starter.cli", "order", "create", "--provider", "waafipay", "--order-id", order_id,
         "--amount", "3.00", "--currency", "USD", "--customer-id", "cust-push", "--customer-phone", "252611111111"],
        cwd=stack.cwd, env=clean_environment(COLUMNS="80"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        first = process.stderr.readline()
        still_waiting = process.poll() is None
        stdout, rest = process.communicate(timeout=90)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert "asking the payer to approve 3.00 USD on their phone" in first, first + rest
    assert "2526" not in first, "the wallet number is personal data"
    assert still_waiting, "the line comes while the push waits, not after"
    assert process.returncode == 0, stdout + rest
    assert "PAID" in stdout

    hosted_id = unique("ORD-HPP")
    hosted = stack.run(
        "order", "create", "--provider", "waafipay", "--order-id", hosted_id, "--amount", "3.00", "--currency",
        "USD", "--customer-id", "cust-push", "--customer-phone", "252611111111", "--payment-method", "HPP",
    )  # fmt: skip
    assert "asking the payer" not in hosted.stderr, "a hosted page does not wait for the payer"


@pytest.mark.parametrize("columns", WIDTHS)
def test_an_invoiced_periods_qr_is_shown_on_the_subscription(stack: Cli, columns: int | None) -> None:
    subscription_id = unique("SUB-QR")
    stack.run(
        "subscription", "create", "--provider", "kess", "--subscription-id", subscription_id,
        "--plan-id", "plan-qr", "--amount", "4.00", "--currency", "USD", "--customer-id", "cust-qr",
    )  # fmt: skip
    view = stack.until(
        ["subscription", "show", subscription_id],
        lambda sub: any(period.get("checkout_url") for period in sub["periods"]),
        timeout=60,
    )
    code = next(period["checkout_url"] for period in view["periods"] if period.get("checkout_url"))
    shown = stack.run("subscription", "show", subscription_id, columns=columns).stdout
    assert "Scan to pay period 1 (4.00 USD)" in shown, shown
    assert_whole(shown, code)
    assert "█" in shown or "▀" in shown or "▄" in shown, "the QR itself is drawn"


def test_an_invoiced_periods_link_is_shown_on_the_subscription(stack: Cli) -> None:
    subscription_id = unique("SUB-LINK")
    stack.run(
        "subscription", "create", "--provider", "waffo", "--subscription-id", subscription_id, "--billing", "invoice",
        "--plan-id", "plan-link", "--amount", "5.00", "--currency", "USD", "--customer-id", "cust-link",
        "--customer-email", "link@example.com",
    )  # fmt: skip
    view = stack.until(
        ["subscription", "show", subscription_id],
        lambda sub: any(period.get("checkout_url") for period in sub["periods"]),
        timeout=60,
    )
    url = next(period["checkout_url"] for period in view["periods"] if period.get("checkout_url"))
    shown = stack.run("subscription", "show", subscription_id, columns=80).stdout
    line = next((line for line in shown.splitlines() if line.startswith("Pay period 1")), "")
    assert line.split() == ["Pay", "period", "1", "(5.00", "USD)", url], shown


@pytest.mark.parametrize(
    ("fraction", "shown"),
    [
        (Fraction(2675, 100000), "2.68%"),  # 2.675 % exactly: half to even; a float reads 2.67
        (Fraction(1, 8), "12.50%"),
        (Fraction(1, 3), "33.33%"),
        (Fraction(2, 3), "66.67%"),
        (Fraction(1), "100.00%"),
        (Fraction(0), "0.00%"),
        (Fraction(1, 10**7), "<0.01%"),  # some of the period remains: never "0.00%"
        (Fraction(10**7 - 1, 10**7), ">99.99%"),  # not all of it: never "100.00%"
    ],
)
def test_percent_is_rounded_exactly(fraction: Fraction, shown: str) -> None:
    assert percent_text(fraction) == shown


def test_preview_change_prints_the_exact_percent(stack: Cli) -> None:
    subscription_id = unique("SUB-PCT")
    stack.run(
        "subscription", "create", "--provider", "kess", "--subscription-id", subscription_id,
        "--plan-id", "plan-pct", "--amount", "4.00", "--currency", "USD", "--customer-id", "cust-pct",
    )  # fmt: skip
    view = stack.until(
        ["subscription", "show", subscription_id], lambda sub: any(p.get("order_id") for p in sub["periods"]), 60
    )
    stack.run("emulators", "pay", "kess", next(p["order_id"] for p in view["periods"] if p.get("order_id")))
    stack.until(["subscription", "show", subscription_id], lambda sub: sub["status"] == "ACTIVE", timeout=60)
    change = ["subscription", "preview-change", subscription_id, "--plan-id", "plan-pro", "--amount", "8.00"]

    previewed = stack.json(*change)
    before = Fraction(previewed["fraction_remaining"])
    text = stack.run(*change).stdout
    after = Fraction(stack.json(*change)["fraction_remaining"])
    assert any(f"; {percent_text(f)} of the period remains" in text for f in (before, after)), text
    # The upgrade's invoice, line for line: the unused part of 4.00 credited, the rest of 8.00 charged.
    invoice = previewed["invoice"]
    assert invoice["invoice_id"] == f"{subscription_id}-c1"
    assert [line["kind"] for line in invoice["lines"]] == ["proration_credit", "proration_charge"]
    assert invoice["amount_due"] == sum(line["amount"]["amount_minor"] for line in invoice["lines"])
    assert invoice["amount_due"] == previewed["net"]["amount_minor"]
    assert f"Invoice it would create ({subscription_id}-c1)" in text and "Amount due" in text, text


@pytest.mark.parametrize(
    ("provider", "method", "phone", "waits"),
    [
        ("waafipay", None, "252611111111", True),  # the wallet push blocks until the PIN
        ("waafipay", "MWALLET_ACCOUNT", "252611111111", True),
        ("waafipay", "HPP", None, False),  # a hosted page returns at once
        ("kess", "QUICKPAY:134567890123456789", None, True),  # held while the buyer enters the PIN
        ("kess", None, None, False),  # a QR to scan later
        ("waffo", None, None, False),
    ],
)
def test_which_creates_wait_for_the_payer(provider: str, method: str | None, phone: str | None, waits: bool) -> None:
    from billing.gateway import Customer
    from billing.money import Money
    from billing.orders import CreateOrder

    request = CreateOrder(
        order_id="ORD-W",
        provider=provider,
        amount=Money.parse("3.00", "USD"),
        customer=Customer(customer_id="c", email="c@example.com", phone=phone),
        payment_method=method,
    )
    assert request.waits_for_payer is waits


@pytest.mark.parametrize("columns", WIDTHS)
def test_a_failed_create_says_why_in_one_plain_line(stack: Cli, columns: int | None) -> None:
    # The KESS store settles in USD: the engine refuses a CNY amount before anything is sent.
    order_id = unique("ORD-PLAIN-CNY")
    result = stack.run(
        "order", "create", "--provider", "kess", "--order-id", order_id, "--amount", "5.00", "--currency", "CNY",
        "--customer-id", "cust-plain", "--customer-email", "plain@example.com", columns=columns, check=False,
    )  # fmt: skip
    assert result.returncode == 3, result.stdout + result.stderr
    assert result.stderr.strip() == f"order {order_id} FAILED: amount: the KESS store settles in USD, not CNY"
    assert "Error" not in result.stdout, "no exception class names in what an operator reads"

    # Waffo's sandbox answers C0001 for 9.10: a refusal by the provider, said with its code.
    declined = unique("ORD-PLAIN-DECLINED")
    result = stack.run(
        "order", "create", "--provider", "waffo", "--order-id", declined, "--amount", "9.10", "--currency", "USD",
        "--customer-id", "cust-plain", "--customer-email", "plain@example.com", columns=columns, check=False,
    )  # fmt: skip
    assert result.returncode == 3, result.stdout + result.stderr
    assert result.stderr.strip() == f"order {declined} FAILED: the provider refused: C0001 System Error"
