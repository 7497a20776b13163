"""`billing coupon create|show`, `billing subscription create --coupon` and `billing subscription apply-coupon`
on a real `billing dev`, the CLI as a subprocess: a WaafiPay wallet subscription whose first invoice carries
the coupon's discount line; bad input exits 2 naming the field."""

from __future__ import annotations

from tests.cli.conftest import Cli
from tests.cli.test_output import unique

WALLET = "252611111111"


def test_coupon_create_show_and_a_subscription_created_with_it(stack: Cli) -> None:
    code = unique("SPRING")
    created = stack.json(
        "coupon", "create", code.lower(), "--percent-off", "20", "--duration", "repeating", "--periods", "3",
        "--max-redemptions", "5", "--plans", "plan-cpn,plan-other",
    )  # fmt: skip
    coupon = created["coupon"]
    assert (coupon["code"], coupon["percent_off_bp"], coupon["duration"], coupon["periods"]) == (
        code,
        2000,
        "repeating",
        3,
    )
    assert coupon["plans"] == ["plan-cpn", "plan-other"] and created["redemptions"] == {}
    again = stack.run("coupon", "create", code, "--percent-off", "20", "--duration", "repeating", "--periods", "3",
                      "--max-redemptions", "5", "--plans", "plan-cpn,plan-other")  # fmt: skip
    assert again.returncode == 0, "the same definition again is the same coupon"

    subscription_id = unique("SUB-CPN")
    stack.json(
        "subscription", "create", "--provider", "waafipay", "--subscription-id", subscription_id,
        "--plan-id", "plan-cpn", "--amount", "2.50", "--currency", "USD", "--customer-id", "cust-cpn-cli",
        "--customer-phone", WALLET, "--coupon", code,
    )  # fmt: skip
    invoices = stack.until(
        ["invoice", "list", "--subscription", subscription_id],
        lambda found: len(found) == 1 and found[0]["state"] == "paid",
    )
    # 20 % of 2.50 is 0.50: 2.00 charged.
    assert [(line["kind"], line["amount"]["amount_minor"]) for line in invoices[0]["lines"]] == [
        ("period", 250),
        ("discount", -50),
    ]
    assert (invoices[0]["discount"], invoices[0]["total"], invoices[0]["amount_paid"]) == (50, 200, 200)

    subscription = stack.run("subscription", "show", subscription_id).stdout
    assert f"{code}: 20% off for 3 periods, periods 1 to 3" in subscription
    shown = stack.json("coupon", "show", code)
    assert list(shown["redemptions"]) == [subscription_id]
    text = stack.run("coupon", "show", code).stdout
    assert f"{code} · 20% off for 3 periods" in text and "redeemed 1 of 5" in text and subscription_id in text

    other = unique("OTHER")
    stack.json("coupon", "create", other, "--amount-off", "1.00", "--currency", "USD")
    order_id = unique("ORD-CPN")
    order = stack.json(
        "order", "create", "--provider", "waafipay", "--order-id", order_id, "--amount", "2.50", "--currency", "USD",
        "--customer-id", "cust-cpn-cli", "--customer-phone", WALLET, "--coupon", other.lower(),
    )  # fmt: skip
    # 1.00 off 2.50: 1.50 asked of the wallet.
    assert (order["amount"]["amount_minor"], order["status"]) == (150, "PAID")
    assert list(stack.json("coupon", "show", other)["redemptions"]) == [order_id]
    plan_only = stack.run(
        "order", "create", "--provider", "waafipay", "--order-id", unique("ORD-CPN"), "--amount", "2.50",
        "--currency", "USD", "--customer-id", "cust-cpn-cli", "--customer-phone", WALLET, "--coupon", code,
        check=False,
    )  # fmt: skip
    assert plan_only.returncode == 2 and "coupon.plan_id" in plan_only.stderr
    refused = stack.run("subscription", "apply-coupon", subscription_id, "--coupon", other, check=False)
    assert refused.returncode == 2
    assert f"coupon: coupon {code} is already applied" in refused.stderr


def test_bad_input_exits_2_naming_the_field(stack: Cli) -> None:
    code = unique("BAD")
    for argv, field in [
        (["--percent-off", "150"], "percent_off"),
        (["--percent-off", "10", "--amount-off", "1.00", "--currency", "USD"], "percent_off"),
        (["--amount-off", "1.00"], "currency"),
        (["--amount-off", "1.001", "--currency", "USD"], "amount_off"),
        (["--percent-off", "10", "--duration", "repeating"], "periods"),
        (["--percent-off", "10", "--duration", "weekly"], "duration"),
        (["--percent-off", "10", "--redeem-by", "June"], "redeem_by"),
        (["--percent-off", "10", "--max-redemptions", "0"], "max_redemptions"),
    ]:
        result = stack.run("coupon", "create", code, *argv, check=False)
        assert result.returncode == 2, (argv, result.stderr)
        assert result.stderr.lstrip().startswith(f"{field}:") or f"{field}:" in result.stderr, (argv, result.stderr)

    missing = stack.run("coupon", "show", unique("NOSUCH"), check=False)
    assert missing.returncode == 2 and "coupon" in missing.stderr
    subscription_id = unique("SUB-NOCPN")
    unknown = stack.run(
        "subscription", "create", "--provider", "waafipay", "--subscription-id", subscription_id,
        "--plan-id", "plan-cpn", "--amount", "2.50", "--currency", "USD", "--customer-id", "cust-cpn-cli",
        "--customer-phone", WALLET, "--coupon", "NO-SUCH-COUPON", check=False,
    )  # fmt: skip
    assert unknown.returncode == 2
    assert "coupon: no coupon NO-SUCH-COUPON" in unknown.stderr and "--coupon" in unknown.stderr
    assert stack.run("subscription", "show", subscription_id, check=False).returncode != 0, "nothing started"
