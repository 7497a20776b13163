"""An order's deadline and "not found" answers, through the real Waffo client, emulator and webhook service.

The emulator's clock is set relative to the order's deadline (the time-skipping server's clock runs
ahead of real time), so the payment and close times Waffo states fall where each test needs them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from billing.idempotency import payment_key
from billing.orders import LatePaymentPolicy, Order, OrderStatus
from tests.orders.test_order_workflow import POLICY, order_request
from tests.support.stack import OrderStack, order_stack

#: No inquiry before the deadline: the first the engine learns of the payment is at the deadline.
SLOW_INQUIRIES = POLICY.model_copy(update={"inquiry_schedule": (timedelta(hours=1),)})
REFUND_LATE = SLOW_INQUIRIES.model_copy(update={"late_payment": LatePaymentPolicy.REFUND})
PAID = {OrderStatus.PAID}


@pytest.fixture
async def stack(time_skipping_env: WorkflowEnvironment) -> AsyncIterator[OrderStack]:
    async with order_stack(time_skipping_env.client, env=time_skipping_env) as running:
        yield running


async def set_emulator_clock(stack: OrderStack, when: datetime) -> None:
    stamp = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
    response = await stack.control.post("/clock/set", json={"now": stamp})
    response.raise_for_status()


async def waffo_order(stack: OrderStack, order_id: str) -> dict[str, Any]:
    response = await stack.control.get(f"/orders/{payment_key(order_id)}")
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def events_of(order: Order) -> list[str]:
    return [entry.event for entry in order.timeline]


# -- #12.2: a payment made in time is never late ---------------------------------------------------------


async def test_payment_in_time_with_lost_notification_is_paid_not_late(
    time_skipping_env: WorkflowEnvironment, stack: OrderStack
) -> None:
    await stack.billing.create_order(order_request("ord-in-time", policy=REFUND_LATE))
    await stack.fault("notify", "drop", count=1)
    await stack.customer("ord-in-time", "pay")  # paid well before the deadline; the notification is lost
    await time_skipping_env.sleep(timedelta(minutes=11))
    order = await stack.billing.wait_for_status("ord-in-time", PAID)
    assert not order.late_payment
    assert order.refunds == []
    # The deadline's inquiry found the payment: no cancel was sent.
    assert "closing" not in events_of(order) and "provider.cancel" not in events_of(order)
    assert (await waffo_order(stack, "ord-in-time"))["orderStatus"] == "PAY_SUCCESS"
    assert not await stack.ledger("refund")


async def test_payment_after_the_deadline_is_late_and_refunded(
    time_skipping_env: WorkflowEnvironment, stack: OrderStack
) -> None:
    stack.hub.waffo.config.expiry_grace_s = 3600  # Waffo still takes the payment after orderExpiredAt
    created = await stack.billing.create_order(order_request("ord-late", policy=REFUND_LATE))
    await stack.fault("notify", "drop", count=1)
    await set_emulator_clock(stack, created.deadline + timedelta(seconds=30))
    await stack.customer("ord-late", "pay")
    await time_skipping_env.sleep(timedelta(minutes=11))
    order = await stack.billing.wait_for_status("ord-late", {OrderStatus.REFUNDED})
    assert order.late_payment
    assert order.refunds[0].automatic
    assert len(await stack.ledger("refund")) == 1


# -- #12.4: a close the engine caused is EXPIRED or CANCELLED, whatever reason Waffo gives ---------------


async def test_deadline_close_with_a_failure_reason_is_expired(
    time_skipping_env: WorkflowEnvironment, stack: OrderStack
) -> None:
    stack.hub.waffo.config.cancel_failed_reason = ("B0002", "payment timeout")
    stack.hub.waffo.config.expiry_grace_s = 3600  # the engine's cancel, not Waffo's own expiry, closes it
    created = await stack.billing.create_order(order_request("ord-exp-reason"))
    # The cancel's own answer is lost: the first close statement is the one with Waffo's reason, and
    # Waffo's close time is when the engine's cancel reached it (its clock agrees with ours).
    await stack.fault("order/cancel", "e0001")
    await set_emulator_clock(stack, created.deadline + timedelta(seconds=1))
    await time_skipping_env.sleep(timedelta(minutes=11))
    order = await stack.billing.wait_for_status(
        "ord-exp-reason", {OrderStatus.EXPIRED, OrderStatus.FAILED, OrderStatus.CANCELLED}
    )
    # The merchant event follows the status (order.expired); FAILED would have sent order.failed.
    assert order.status is OrderStatus.EXPIRED
    assert order.failure is not None and order.failure.code == "B0002", "Waffo's reason is kept"
    assert "provider.cancel" in events_of(order)


async def test_merchant_cancel_with_a_failure_reason_is_cancelled(stack: OrderStack) -> None:
    stack.hub.waffo.config.cancel_failed_reason = ("B0003", "user cancelled the payment")
    await stack.billing.create_order(order_request("ord-cancel-reason"))
    order = await stack.billing.cancel("ord-cancel-reason", reason="out of stock")
    await stack.hub.waffo.drain_notifications(timeout_s=10)
    order = await stack.billing.get_order("ord-cancel-reason")
    assert order.status is OrderStatus.CANCELLED


async def test_waffo_expiry_at_the_deadline_is_expired_not_failed(stack: OrderStack) -> None:
    created = await stack.billing.create_order(order_request("ord-waffo-expiry"))
    # Waffo closes the order itself at orderExpiredAt (reason B0002 payment timeout) and says so first.
    await set_emulator_clock(stack, created.deadline + timedelta(seconds=1))
    order = await stack.billing.wait_for_status(
        "ord-waffo-expiry", {OrderStatus.EXPIRED, OrderStatus.FAILED, OrderStatus.CANCELLED}
    )
    assert order.status is OrderStatus.EXPIRED
    assert order.failure is not None and order.failure.code == "B0002"


async def test_decline_before_the_deadline_stays_failed(stack: OrderStack) -> None:
    await stack.billing.create_order(order_request("ord-declined"))
    await stack.customer("ord-declined", "fail")
    order = await stack.billing.wait_for_status(
        "ord-declined", {OrderStatus.EXPIRED, OrderStatus.FAILED, OrderStatus.CANCELLED}
    )
    assert order.status is OrderStatus.FAILED


# -- #12.10 / #18.4: "not found" after an unknown create ----------------------------------------------------


async def test_create_lost_before_waffo_recorded_it_is_resent_with_the_same_key(
    time_skipping_env: WorkflowEnvironment, stack: OrderStack
) -> None:
    await stack.fault("order/create", "http_500")  # answered 500 without handling: nothing was created
    order = await stack.billing.create_order(order_request("ord-resend"))
    assert order.status is OrderStatus.UNKNOWN
    await time_skipping_env.sleep(timedelta(seconds=35))
    pending = await stack.billing.wait_for_status("ord-resend", {OrderStatus.PENDING})
    assert pending.customer_action is not None, "the re-sent create brings the checkout"
    details = " ".join(e.detail for e in pending.timeline)
    assert "A0009" in details
    assert any(e.event == "provider.create_resent" for e in pending.timeline)
    waffo = await waffo_order(stack, "ord-resend")
    assert waffo["paymentRequestId"] == pending.payment_key
    await stack.customer("ord-resend", "pay")
    paid = await stack.billing.wait_for_status("ord-resend", PAID)
    assert not paid.late_payment
    assert len(await stack.ledger("charge")) == 1


async def test_create_never_recorded_ends_in_review_saying_what_was_seen(
    time_skipping_env: WorkflowEnvironment, stack: OrderStack
) -> None:
    await stack.fault("order/create", "http_500", count=1000)
    order = await stack.billing.create_order(order_request("ord-never"))
    assert order.status is OrderStatus.UNKNOWN
    await time_skipping_env.sleep(timedelta(minutes=20))
    review = await stack.billing.wait_for_status("ord-never", {OrderStatus.NEEDS_REVIEW})
    assert review.review is not None
    reason = review.review.reason
    assert "create unanswered" in reason and "500" in reason
    assert "A0009" in reason and "inquiries from" in reason
    assert order.payment_key in reason, "names the request id to look up"
    # Every re-send used the one request id, and none was sent after the deadline.
    resent = [e for e in review.timeline if e.event == "provider.create_resent"]
    assert resent and all(e.at < review.deadline for e in resent)
