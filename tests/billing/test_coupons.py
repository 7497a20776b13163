"""Coupons, pure rules: validation naming the field, discounts by hand and as properties, the periods a
redemption covers, redemptions idempotent per target and refused after expiry, over the limit, for another
plan or currency."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.coupons import (
    AppliedCoupon,
    Coupon,
    CouponDuration,
    CouponState,
    RedeemCoupon,
    coupon_workflow_id,
    covers,
    discount,
    parse_percent,
    period_discount,
    redeem,
    same_definition,
)
from billing.errors import ConflictError, CurrencyMismatchError, InputError, InvalidStateError
from billing.money import Money

NOW = datetime(2027, 1, 1, tzinfo=UTC)


def usd(minor: int) -> Money:
    return Money(amount_minor=minor, currency="USD")


def coupon(**fields: Any) -> Coupon:
    base: dict[str, Any] = {"code": "save20", "percent_off_bp": 2000, "duration": CouponDuration.ONCE}
    base.update(fields)
    return Coupon(**base)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"code": "bad code"}, "code"),
        ({"code": ""}, "code"),
        ({"percent_off_bp": None}, "percent_off"),
        ({"amount_off": usd(500)}, "percent_off"),
        ({"percent_off_bp": 0}, "percent_off"),
        ({"percent_off_bp": 10001}, "percent_off"),
        ({"percent_off_bp": None, "amount_off": usd(0)}, "amount_off"),
        ({"duration": CouponDuration.REPEATING}, "periods"),
        ({"duration": CouponDuration.REPEATING, "periods": 0}, "periods"),
        ({"duration": CouponDuration.ONCE, "periods": 3}, "periods"),
        ({"redeem_by": datetime(2027, 1, 1)}, "redeem_by"),
        ({"max_redemptions": 0}, "max_redemptions"),
        ({"plans": ("",)}, "plans"),
    ],
)
def test_a_bad_definition_names_its_field(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError) as info:
        coupon(**fields)
    assert info.value.field == field


def test_codes_are_case_insensitive() -> None:
    assert coupon(code=" Save20 ").code == "SAVE20"
    assert coupon_workflow_id("m1", "save20") == "coupon:m1:SAVE20"


@pytest.mark.parametrize(
    ("text", "basis_points"), [("20", 2000), ("12.5", 1250), ("0.01", 1), ("100", 10000), ("7%", 700)]
)
def test_percent_text(text: str, basis_points: int) -> None:
    assert parse_percent(text) == basis_points


@pytest.mark.parametrize("text", ["0", "100.01", "12.345", "abc", "nan", "-5"])
def test_bad_percent_text_names_percent_off(text: str) -> None:
    with pytest.raises(InputError) as info:
        parse_percent(text)
    assert info.value.field == "percent_off"


@pytest.mark.parametrize(
    ("basis_points", "price", "off"),
    [
        (2000, 3000, 600),  # 20 % of 30.00
        (1250, 999, 125),  # 124.875 -> 125
        (5000, 1, 0),  # 0.5 -> 0 (half to even)
        (5000, 3, 2),  # 1.5 -> 2 (half to even)
        (3333, 100, 33),  # 33.33 -> 33
        (10000, 4999, 4999),  # 100 %
    ],
)
def test_percent_off_by_hand(basis_points: int, price: int, off: int) -> None:
    assert discount(coupon(percent_off_bp=basis_points), usd(price)) == usd(off)


def test_amount_off_is_whole_and_never_more_than_the_price() -> None:
    five = coupon(percent_off_bp=None, amount_off=usd(500))
    assert discount(five, usd(3000)) == usd(500)
    assert discount(five, usd(300)) == usd(300)
    with pytest.raises(CurrencyMismatchError) as info:
        discount(five, Money(amount_minor=3000, currency="EUR"))
    assert info.value.field == "currency"


@given(st.integers(min_value=1, max_value=10000), st.integers(min_value=0, max_value=10**12))
def test_percent_off_is_the_exact_product_rounded_once(basis_points: int, price: int) -> None:
    off = discount(coupon(percent_off_bp=basis_points), usd(price)).amount_minor
    exact = Fraction(price * basis_points, 10000)
    assert 0 <= off <= price
    assert abs(off - exact) <= Fraction(1, 2)


@given(st.integers(min_value=1, max_value=10**9), st.integers(min_value=0, max_value=10**9))
def test_amount_off_never_exceeds_the_price(amount: int, price: int) -> None:
    off = discount(coupon(percent_off_bp=None, amount_off=usd(amount)), usd(price)).amount_minor
    assert off == min(amount, price)


def test_periods_covered() -> None:
    once = coupon()
    three = coupon(duration=CouponDuration.REPEATING, periods=3)
    forever = coupon(duration=CouponDuration.FOREVER)
    assert [n for n in range(1, 8) if covers(once, 2, n)] == [2]
    assert [n for n in range(1, 8) if covers(three, 2, n)] == [2, 3, 4]
    assert [n for n in range(1, 8) if covers(forever, 2, n)] == [2, 3, 4, 5, 6, 7]
    assert AppliedCoupon(redemption=_redemption(three), first_period=2).last_period() == 4
    assert AppliedCoupon(redemption=_redemption(forever), first_period=2).last_period() is None


def _redemption(c: Coupon) -> Any:
    return redeem(CouponState(coupon=c), RedeemCoupon(target="sub-1", plan_id="basic"), NOW)


def test_period_discount_only_on_covered_periods_of_allowed_plans() -> None:
    applied = AppliedCoupon(
        redemption=_redemption(coupon(duration=CouponDuration.REPEATING, periods=3, plans=("basic",))),
        first_period=1,
    )
    assert [period_discount(applied, "basic", usd(3000), n).amount_minor for n in range(1, 6)] == [600] * 3 + [0] * 2
    assert period_discount(applied, "pro", usd(6000), 2) == usd(0), "a plan outside the coupon's plans"
    assert period_discount(None, "basic", usd(3000), 1) == usd(0)


def test_redemption_is_idempotent_per_target_and_limited() -> None:
    state = CouponState(coupon=coupon(max_redemptions=2))
    first = redeem(state, RedeemCoupon(target="a"), NOW)
    assert redeem(state, RedeemCoupon(target="a"), NOW + timedelta(days=1)) == first
    assert redeem(state, RedeemCoupon(target="b"), NOW).sequence == 2
    with pytest.raises(InvalidStateError) as info:
        redeem(state, RedeemCoupon(target="c"), NOW)
    assert info.value.field == "max_redemptions"
    assert state.redeemed == 2
    assert redeem(state, RedeemCoupon(target="a"), NOW) == first, "a target that redeemed keeps its redemption"


def test_redemption_refused_after_expiry_for_another_plan_or_currency() -> None:
    expiring = CouponState(coupon=coupon(redeem_by=NOW))
    with pytest.raises(InvalidStateError) as info:
        redeem(expiring, RedeemCoupon(target="a"), NOW)
    assert info.value.field == "redeem_by"
    assert redeem(expiring, RedeemCoupon(target="a"), NOW - timedelta(seconds=1)).target == "a"

    for_basic = CouponState(coupon=coupon(plans=("basic", "plus")))
    with pytest.raises(InputError) as info:
        redeem(for_basic, RedeemCoupon(target="a", plan_id="pro"), NOW)
    assert info.value.field == "plan_id"
    assert redeem(for_basic, RedeemCoupon(target="a", plan_id="plus"), NOW).sequence == 1

    dollars = CouponState(coupon=coupon(percent_off_bp=None, amount_off=usd(500)))
    with pytest.raises(CurrencyMismatchError) as info:
        redeem(dollars, RedeemCoupon(target="a", currency="EUR"), NOW)
    assert info.value.field == "currency"
    assert dollars.redeemed == 0


@given(st.integers(min_value=1, max_value=20), st.lists(st.integers(min_value=0, max_value=30), max_size=80))
def test_never_more_targets_than_the_limit(limit: int, targets: list[int]) -> None:
    state = CouponState(coupon=coupon(max_redemptions=limit))
    accepted: set[int] = set()
    for target in targets:
        try:
            redeem(state, RedeemCoupon(target=f"t{target}"), NOW)
        except InvalidStateError:
            assert len(accepted) == limit and target not in accepted
            continue
        accepted.add(target)
    assert state.redeemed == len(accepted) == min(limit, len(set(targets)))


def test_creating_again_with_another_definition_is_a_conflict() -> None:
    same_definition(coupon(), coupon())
    with pytest.raises(ConflictError) as info:
        same_definition(coupon(), coupon(percent_off_bp=1000))
    assert info.value.field == "code"


def test_describe() -> None:
    assert coupon(duration=CouponDuration.REPEATING, periods=3).describe() == "20% off for 3 periods"
    assert coupon(percent_off_bp=1250).describe() == "12.5% off once"
    assert coupon(percent_off_bp=None, amount_off=usd(500), duration=CouponDuration.FOREVER).describe() == (
        "5.00 USD off forever"
    )


def _subscription(price: int, credit: int, applied: AppliedCoupon | None) -> Any:
    from billing.gateway import BillingInterval, SubscriptionPlan
    from billing.subscriptions import BillingMode, Subscription

    plan = SubscriptionPlan(plan_id="basic", description="Basic", amount=usd(price), interval=BillingInterval.MONTH)
    return Subscription(
        subscription_id="sub-1",
        provider="waafipay",
        mode=BillingMode.ENGINE_CHARGED,
        plan=plan,
        customer_id="c",
        request_key="k",
        credit_balance=usd(credit),
        coupon=applied,
        created_at=NOW,
        activation_deadline=NOW,
    )


@given(
    price=st.integers(min_value=1, max_value=10**7),
    credit=st.integers(min_value=0, max_value=10**7),
    basis_points=st.one_of(st.none(), st.integers(min_value=1, max_value=10000)),
    amount_off=st.integers(min_value=1, max_value=10**7),
    number=st.integers(min_value=1, max_value=5),
)
def test_a_period_invoice_with_a_coupon_and_credit_adds_up(
    price: int, credit: int, basis_points: int | None, amount_off: int, number: int
) -> None:
    """Whatever the price, coupon and carried credit: the invoice's amount due is what the order collects,
    its discount is the coupon's, and the credit used is what leaves the balance, never below zero."""
    from billing.invoices import Invoice
    from billing.subscriptions import BillingPeriodRecord

    off = {"percent_off_bp": basis_points} if basis_points else {"percent_off_bp": None, "amount_off": usd(amount_off)}
    applied = AppliedCoupon(
        redemption=_redemption(coupon(duration=CouponDuration.REPEATING, periods=2, **off)), first_period=2
    )
    sub = _subscription(price, credit, applied)
    record = BillingPeriodRecord(number=number)
    taken = sub.period_discount(record)
    amount = sub.invoice_amount(taken)
    lines = sub.period_invoice_lines(record, amount, taken)
    invoice = Invoice.build(number="INV-1", merchant="m", customer_id="c", currency="USD", lines=lines)
    sub.consume_credit(amount, taken)
    assert invoice.amount_due == amount.amount_minor
    expected = discount(applied.coupon, usd(price)).amount_minor if 2 <= number <= 3 else 0
    assert invoice.discount == taken.amount_minor == expected
    assert 0 <= sub.credit_balance.amount_minor <= credit
    assert credit - sub.credit_balance.amount_minor == invoice.total - invoice.amount_due
