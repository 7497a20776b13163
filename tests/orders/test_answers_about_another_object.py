"""An answer about another object than the one asked for is never applied (issue #13.2), through the engine
with the Waffo emulator's ``other_object`` fault: the answer states our payment's status, signed, but names
another request and order. (KESS: tests/orders/test_kess_orders.py.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from temporalio.testing import WorkflowEnvironment

from billing.gateway import Customer
from billing.money import Money
from billing.orders import CreateOrder, OrderStatus
from tests.support.stack import TEST_ORDER_POLICY, OrderStack, order_stack


@pytest.fixture
async def stack(time_skipping_env: WorkflowEnvironment) -> AsyncIterator[OrderStack]:
    async with order_stack(time_skipping_env.client) as running:
        yield running


async def test_a_paid_answer_naming_another_order_does_not_pay_ours(stack: OrderStack) -> None:
    await stack.billing.create_order(
        CreateOrder(
            order_id="ord-other",
            provider="waffo",
            amount=Money.parse("10.00", "USD"),
            customer=Customer(customer_id="cust-1", email="buyer@example.com"),
            policy=TEST_ORDER_POLICY,
        )
    )
    await stack.fault("notify", "drop", count=5)
    await stack.fault("order/inquiry", "other_object", count=1000)
    await stack.customer("ord-other", "pay")  # paid; the notification is lost; every inquiry names another order

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while True:  # bounded polling until an inquiry ended as "no answer"
        await stack.billing.check_now("ord-other")
        order = await stack.billing.get_order("ord-other")
        if order.status is not OrderStatus.PENDING or any(
            e.event == "inquiry" and "paymentRequestId" in e.detail for e in order.timeline
        ):
            break
        assert loop.time() < deadline, "no inquiry answered"
        await asyncio.sleep(0.1)
    assert order.status is OrderStatus.PENDING, "a statement about another order was applied"

    await stack.control.delete("/faults")
    paid = await stack.check_until("ord-other", {OrderStatus.PAID})
    assert not paid.late_payment
