"""A coupon on a one-time order (WaafiPay wallet push on the time-skipping server): the provider is asked
for the discounted amount, the order is redeemed once however often it is created, and a refused or
whole-amount coupon starts nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.testing import WorkflowEnvironment

from billing import errors
from billing.coupons import Coupon, CouponDuration
from billing.gateway import Customer
from billing.money import Money
from billing.orders import OrderStatus
from tests.orders.test_waafipay_orders import WALLET, charges, waafipay_order
from tests.subscriptions.test_engine_invoiced import start
from tests.support.stack import OrderStack, order_stack

WALLET_CUSTOMER = Customer(customer_id="cust-cpn", phone=WALLET)


@pytest.fixture
async def stack(own_time_skipping_env: WorkflowEnvironment) -> AsyncIterator[OrderStack]:
    # A server of its own: a subscription here numbers its invoices with activities, which were seen to stop
    # a shared test server's clock for the tests after it (tests/subscriptions/conftest.py).
    env = own_time_skipping_env
    async with order_stack(env.client, env=env) as running:
        yield running


async def test_a_coupon_on_an_order_charges_the_discounted_amount_once(stack: OrderStack) -> None:
    billing = stack.billing
    await billing.create_coupon(
        Coupon(code="TENOFF", percent_off_bp=1250, duration=CouponDuration.ONCE, max_redemptions=1)
    )
    order = await billing.create_order(waafipay_order("ord-cpn-1", "10.00", coupon="tenoff"))
    # 12.5 % of 10.00 is 1.25: 8.75 asked.
    assert order.amount == Money.parse("8.75", "USD")
    paid = await billing.wait_for_status("ord-cpn-1", {OrderStatus.PAID})
    assert paid.amount == Money.parse("8.75", "USD")
    assert [c["amount"] for c in await charges(stack)] == ["8.75"]
    again = await billing.create_order(waafipay_order("ord-cpn-1", "10.00", coupon="TENOFF"))
    assert again.order_id == "ord-cpn-1" and again.amount == Money.parse("8.75", "USD")
    coupon = await billing.get_coupon("TENOFF")
    assert list(coupon.redemptions) == ["ord-cpn-1"]

    with pytest.raises(errors.InvalidStateError) as used_up:
        await billing.create_order(waafipay_order("ord-cpn-2", "10.00", coupon="TENOFF"))
    assert used_up.value.field == "coupon.max_redemptions"
    with pytest.raises(errors.NotFoundError):
        await billing.get_order("ord-cpn-2")

    await billing.create_coupon(Coupon(code="ALL", percent_off_bp=10000, duration=CouponDuration.ONCE))
    with pytest.raises(errors.InputError) as whole:
        await billing.create_order(waafipay_order("ord-cpn-3", "10.00", coupon="ALL"))
    assert whole.value.field == "coupon"
    assert (await billing.get_coupon("ALL")).redeemed == 0, "nothing redeemed for an order that cannot start"
    await billing.create_coupon(
        Coupon(code="PLANS", percent_off_bp=1000, duration=CouponDuration.ONCE, plans=("basic",))
    )
    with pytest.raises(errors.InputError) as for_plans:
        await billing.create_order(waafipay_order("ord-cpn-4", "10.00", coupon="PLANS"))
    assert for_plans.value.field == "coupon.plan_id"
    assert "not one-time orders" in str(for_plans.value)


async def test_an_existing_order_or_subscription_asked_again_with_a_coupon_takes_no_redemption(
    stack: OrderStack,
) -> None:
    billing = stack.billing
    await billing.create_coupon(Coupon(code="LATE", percent_off_bp=1000, duration=CouponDuration.ONCE))
    await billing.create_order(waafipay_order("ord-cpn-plain", "10.00"))
    with pytest.raises(errors.ConflictError) as conflict:
        await billing.create_order(waafipay_order("ord-cpn-plain", "10.00", coupon="LATE"))
    assert conflict.value.field == "order_id"

    subscription = start("sub-cpn-plain", provider="waafipay", billing_mode=None, customer=WALLET_CUSTOMER)
    await billing.create_subscription(subscription)
    with pytest.raises(errors.ConflictError):
        await billing.create_subscription(subscription.model_copy(update={"coupon": "LATE"}))
    assert (await billing.get_coupon("LATE")).redeemed == 0, "a refused creation redeemed nothing"
