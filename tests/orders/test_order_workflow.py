"""OrderWorkflow on the time-skipping server, through the real Waffo client, emulator and webhook service."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from pydantic import ValidationError
from temporalio.testing import WorkflowEnvironment

from billing import errors
from billing.gateway import CaptureMode, Customer, CustomerActionKind
from billing.money import Money
from billing.orders import (
    CreateOrder,
    LatePaymentPolicy,
    OrderStatus,
    RefundRequest,
    RefundState,
    ResolveRequest,
)
from tests.support.stack import TEST_ORDER_POLICY, OrderStack, order_stack

POLICY = TEST_ORDER_POLICY.model_copy(update={"capture_window": timedelta(days=1)})
PAID = {OrderStatus.PAID}


def usd(text: str) -> Money:
    return Money.parse(text, "USD")


def order_request(order_id: str, amount: str = "10.00", **overrides: object) -> CreateOrder:
    fields: dict[str, object] = {
        "order_id": order_id,
        "provider": "waffo",
        "amount": usd(amount),
        "customer": Customer(customer_id="cust-1", email="buyer@example.com"),
        "description": "Test order",
        "policy": POLICY,
    }
    fields.update(overrides)
    return CreateOrder.model_validate(fields)


@pytest.fixture
async def stack(time_skipping_env: WorkflowEnvironment) -> AsyncIterator[OrderStack]:
    async with order_stack(time_skipping_env.client, env=time_skipping_env, checked=True) as running:
        yield running


async def test_paid_by_webhook(stack: OrderStack) -> None:
    order = await stack.billing.create_order(order_request("ord-webhook"))
    assert order.status is OrderStatus.PENDING
    assert order.customer_action is not None
    assert order.customer_action.kind is CustomerActionKind.REDIRECT
    assert order.customer_action.url and "/checkout/" in order.customer_action.url

    await stack.customer("ord-webhook", "pay")
    paid = await stack.billing.wait_for_status("ord-webhook", PAID)
    assert paid.captured_amount == usd("10.00")
    assert any(entry.event == "notification" for entry in paid.timeline)
    assert len(await stack.ledger("charge")) == 1
    assert stack.webhooks.counters.signalled >= 1


async def test_create_is_idempotent_and_conflicts_on_different_parameters(stack: OrderStack) -> None:
    first = await stack.billing.create_order(order_request("ord-idem"))
    again = await stack.billing.create_order(order_request("ord-idem"))
    assert again.payment_key == first.payment_key
    assert again.provider_reference == first.provider_reference
    with pytest.raises(errors.ConflictError) as info:
        await stack.billing.create_order(order_request("ord-idem", amount="11.00"))
    assert info.value.field == "order_id"


async def test_paid_by_inquiry_after_lost_webhook(time_skipping_env: WorkflowEnvironment, stack: OrderStack) -> None:
    await stack.billing.create_order(order_request("ord-lost"))
    await stack.fault("notify", "drop", count=5)
    await stack.customer("ord-lost", "pay")
    await time_skipping_env.sleep(timedelta(seconds=35))
    paid = await stack.billing.wait_for_status("ord-lost", PAID)
    assert any(entry.event == "inquiry" for entry in paid.timeline)


async def test_e0001_on_create_is_reconciled_by_inquiry(
    time_skipping_env: WorkflowEnvironment, stack: OrderStack
) -> None:
    await stack.fault("order/create", "e0001")
    order = await stack.billing.create_order(order_request("ord-e0001"))
    assert order.status is OrderStatus.UNKNOWN
    await time_skipping_env.sleep(timedelta(seconds=35))
    pending = await stack.billing.wait_for_status("ord-e0001", {OrderStatus.PENDING})
    assert pending.customer_action is not None, "inquiry recovers the checkout URL"
    await stack.customer("ord-e0001", "pay")
    await stack.billing.wait_for_status("ord-e0001", PAID)
    creates = [e for e in await stack.ledger() if e["kind"] == "charge"]
    assert len(creates) == 1


async def test_timeout_on_create_is_reconciled_by_inquiry(time_skipping_env: WorkflowEnvironment) -> None:
    async with order_stack(time_skipping_env.client, read_timeout=1.0, env=time_skipping_env, checked=True) as stack:
        await stack.fault("order/create", "timeout_after_commit", ms=3000)
        order = await stack.billing.create_order(order_request("ord-timeout"))
        assert order.status is OrderStatus.UNKNOWN
        assert any("Timeout" in entry.detail for entry in order.timeline)
        await stack.customer("ord-timeout", "pay")
        paid = await stack.billing.wait_for_status("ord-timeout", PAID)
        assert paid.provider_reference is not None


async def test_decline_is_final(stack: OrderStack) -> None:
    order = await stack.billing.create_order(order_request("ord-decline", amount="9.00"))
    assert order.status is OrderStatus.FAILED
    assert order.failure is not None
    assert order.failure.code == "C0005"


async def test_customer_failure_fails_the_order(stack: OrderStack) -> None:
    await stack.billing.create_order(order_request("ord-fail"))
    await stack.customer("ord-fail", "fail")
    failed = await stack.billing.wait_for_status("ord-fail", {OrderStatus.FAILED})
    assert failed.failure is not None


async def test_deadline_cancels_then_confirms(time_skipping_env: WorkflowEnvironment, stack: OrderStack) -> None:
    await stack.billing.create_order(order_request("ord-expire"))
    await time_skipping_env.sleep(timedelta(minutes=11))
    expired = await stack.billing.wait_for_status("ord-expire", {OrderStatus.EXPIRED})
    events = [entry.event for entry in expired.timeline]
    assert "closing" in events and "provider.cancel" in events and "inquiry" in events
    assert not await stack.ledger("charge")


#: No inquiry before the deadline: the first the engine learns of a payment is at the deadline's cancel.
SLOW_INQUIRIES = POLICY.model_copy(update={"inquiry_schedule": (timedelta(hours=1),)})


async def test_success_found_by_the_deadline_cancel_is_paid_in_time(
    time_skipping_env: WorkflowEnvironment, stack: OrderStack
) -> None:
    policy = SLOW_INQUIRIES.model_copy(update={"late_payment": LatePaymentPolicy.REFUND})
    await stack.billing.create_order(order_request("ord-race", policy=policy))
    await stack.fault("notify", "drop", count=1)
    await stack.customer("ord-race", "pay")  # paid in time, but the notification is lost
    # The deadline's inquiry gets no answer (all three attempts), so the engine cancels: Waffo answers
    # A0013 (already paid). The payment time, not the cancel, says whether it was late: it was not.
    await stack.fault("order/inquiry", "http_500", count=3)
    await time_skipping_env.sleep(timedelta(minutes=11))
    order = await stack.billing.wait_for_status("ord-race", PAID)
    assert not order.late_payment
    assert order.refunds == []
    events = [entry.event for entry in order.timeline]
    assert events.index("provider.cancel") < events.index("inquiry", events.index("provider.cancel"))
    assert len(await stack.ledger("charge")) == 1
    assert not await stack.ledger("refund")


async def test_manual_capture_full(time_skipping_env: WorkflowEnvironment, stack: OrderStack) -> None:
    await stack.billing.create_order(order_request("ord-cap-full", capture_mode=CaptureMode.MANUAL))
    await stack.customer("ord-cap-full", "pay")
    # Waffo does not push AUTHED_WAITING_CAPTURE: the next scheduled inquiry finds the authorization.
    await time_skipping_env.sleep(timedelta(seconds=35))
    await stack.billing.wait_for_status("ord-cap-full", {OrderStatus.AUTHORIZED})
    assert not await stack.ledger("charge")
    await stack.billing.capture("ord-cap-full")
    paid = await stack.billing.wait_for_status("ord-cap-full", PAID)
    assert paid.captured_amount == usd("10.00")
    captures = await stack.ledger("capture")
    assert len(captures) == 1
    assert captures[0]["amount"] == "10.00"


async def test_manual_capture_partial_then_refund_limited_to_captured(
    time_skipping_env: WorkflowEnvironment, stack: OrderStack
) -> None:
    await stack.billing.create_order(order_request("ord-cap-part", capture_mode=CaptureMode.MANUAL))
    with pytest.raises(errors.InvalidStateError):
        await stack.billing.capture("ord-cap-part")
    await stack.customer("ord-cap-part", "pay")
    await time_skipping_env.sleep(timedelta(seconds=35))
    await stack.billing.wait_for_status("ord-cap-part", {OrderStatus.AUTHORIZED})
    with pytest.raises(errors.InvalidAmountError) as info:
        await stack.billing.capture("ord-cap-part", usd("10.01"))
    assert info.value.field == "amount"
    await stack.billing.capture("ord-cap-part", usd("4.00"))
    paid = await stack.billing.wait_for_status("ord-cap-part", PAID)
    assert paid.captured_amount == usd("4.00")
    assert paid.refundable == usd("4.00")
    with pytest.raises(errors.InvalidAmountError):
        await stack.billing.refund("ord-cap-part", RefundRequest(refund_id="r1", amount=usd("4.01")))


async def test_refunds_partial_full_over_and_replay(stack: OrderStack) -> None:
    await stack.billing.create_order(order_request("ord-refunds"))
    await stack.customer("ord-refunds", "pay")
    await stack.billing.wait_for_status("ord-refunds", PAID)

    first = await stack.billing.refund(
        "ord-refunds", RefundRequest(refund_id="r1", amount=usd("3.00"), reason="damaged")
    )
    assert first.status in (RefundState.PENDING, RefundState.SUCCEEDED)
    replay = await stack.billing.refund(
        "ord-refunds", RefundRequest(refund_id="r1", amount=usd("3.00"), reason="damaged")
    )
    assert replay.request_key == first.request_key
    with pytest.raises(errors.ConflictError):
        await stack.billing.refund("ord-refunds", RefundRequest(refund_id="r1", amount=usd("2.00")))
    with pytest.raises(errors.InvalidAmountError) as info:
        await stack.billing.refund("ord-refunds", RefundRequest(refund_id="r2", amount=usd("7.01")))
    assert "refundable" in str(info.value)

    await stack.billing.wait_for_status("ord-refunds", {OrderStatus.PARTIALLY_REFUNDED})
    await stack.billing.refund("ord-refunds", RefundRequest(refund_id="r2", amount=usd("7.00")))
    done = await stack.billing.wait_for_status("ord-refunds", {OrderStatus.REFUNDED})
    assert done.refunded == usd("10.00")
    assert [e["amount"] for e in await stack.ledger("refund")] == ["3.00", "7.00"]


async def test_concurrent_refunds_never_exceed_the_captured_amount(stack: OrderStack) -> None:
    await stack.billing.create_order(order_request("ord-conc"))
    await stack.customer("ord-conc", "pay")
    await stack.billing.wait_for_status("ord-conc", PAID)
    attempts = [
        stack.billing.refund("ord-conc", RefundRequest(refund_id=f"c{i}", amount=usd("4.00"))) for i in range(4)
    ]
    results = await asyncio.gather(*attempts, return_exceptions=True)
    accepted = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, errors.InvalidAmountError)]
    assert len(accepted) == 2
    assert len(refused) == 2
    await stack.billing.wait_for_status("ord-conc", {OrderStatus.PARTIALLY_REFUNDED})
    ledger = await stack.ledger("refund")
    assert sum(Money.parse(e["amount"], "USD").amount_minor for e in ledger) == 800


async def test_duplicate_and_reordered_notifications_never_move_final_state(stack: OrderStack) -> None:
    await stack.billing.create_order(order_request("ord-dup"))
    await stack.fault("notify", "duplicate", count=3)
    await stack.customer("ord-dup", "pay")
    paid = await stack.billing.wait_for_status("ord-dup", PAID)
    await stack.hub.waffo.drain_notifications(timeout_s=10)
    paid = await stack.billing.get_order("ord-dup")
    assert paid.status is OrderStatus.PAID
    assert any("duplicate" in entry.detail for entry in paid.timeline)

    # A refund notification held back and delivered after the next one: final states stay final.
    await stack.fault("notify", "reorder", count=1)
    await stack.billing.refund("ord-dup", RefundRequest(refund_id="d1", amount=usd("1.00")))
    await stack.billing.refund("ord-dup", RefundRequest(refund_id="d2", amount=usd("2.00")))
    await stack.hub.waffo.drain_notifications(timeout_s=10)
    settled = await stack.billing.wait_for_status("ord-dup", {OrderStatus.PARTIALLY_REFUNDED})
    assert settled.refunded == usd("3.00")


async def test_needs_review_then_operator_resolves(time_skipping_env: WorkflowEnvironment, stack: OrderStack) -> None:
    # Every call answers "unknown" and no notification arrives: nothing can be concluded, so an
    # operator must decide.
    await stack.fault("*", "e0001", count=1000)
    await stack.fault("notify", "drop", count=1000)
    order = await stack.billing.create_order(order_request("ord-review"))
    assert order.status is OrderStatus.UNKNOWN
    await time_skipping_env.sleep(timedelta(minutes=20))
    review = await stack.billing.wait_for_status("ord-review", {OrderStatus.NEEDS_REVIEW})
    assert review.review is not None
    with pytest.raises(ValidationError, match="operator"):
        ResolveRequest(operator="", reason="x", status=OrderStatus.PAID)
    with pytest.raises(ValidationError, match="PAID, FAILED or CANCELLED"):
        ResolveRequest(operator="ops", reason="x", status=OrderStatus.REFUNDED)
    resolved = await stack.billing.resolve(
        "ord-review",
        ResolveRequest(operator="ops-ana", reason="confirmed in the Waffo portal", status=OrderStatus.FAILED),
    )
    assert resolved.status is OrderStatus.FAILED
    assert resolved.review is not None
    assert resolved.review.resolved_by == "ops-ana"
    with pytest.raises(errors.InvalidStateError):
        await stack.billing.resolve("ord-review", ResolveRequest(operator="x", reason="y", status=OrderStatus.PAID))


async def test_bad_commands_change_nothing(stack: OrderStack) -> None:
    await stack.billing.create_order(order_request("ord-bad"))
    before = await stack.billing.get_order("ord-bad")
    with pytest.raises(errors.InvalidStateError):
        await stack.billing.refund("ord-bad", RefundRequest(refund_id="r", amount=usd("1.00")))
    with pytest.raises(errors.InvalidStateError):
        await stack.billing.capture("ord-bad")
    with pytest.raises(errors.NotFoundError):
        await stack.billing.get_order("no-such-order")
    after = await stack.billing.get_order("ord-bad")
    assert after.timeline == before.timeline


async def test_merchant_cancel(stack: OrderStack) -> None:
    await stack.billing.create_order(order_request("ord-cancel"))
    cancelled = await stack.billing.cancel("ord-cancel", reason="customer changed their mind")
    assert cancelled.status is OrderStatus.CANCELLED
    with pytest.raises(errors.InvalidStateError):
        await stack.billing.cancel("ord-cancel")
