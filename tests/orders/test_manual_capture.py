"""Manual capture when answers go missing: AUTHORIZED orders through the real emulators over HTTP.

Every wait in AUTHORIZED ends: a capture or a void whose answer is lost is re-sent with its original key,
then inquired; what cannot be concluded goes to NEEDS_REVIEW with what the operator must check, and the
order can always be moved on afterwards (capture, refund or resolve). The ledgers say where the money is.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from billing.gateway import CaptureMode, Customer
from billing.idempotency import payment_key
from billing.money import Money
from billing.orders import CreateOrder, OrderStatus, RefundRequest, ResolveRequest
from tests.support.stack import TEST_ORDER_POLICY, WAAFIPAY, OrderStack, order_stack

WALLET = "252611111111"
#: Inquiries after 30 s then every minute, a one-day capture window.
POLICY = TEST_ORDER_POLICY.model_copy(update={"capture_window": timedelta(days=1)})
#: No inquiry before the payment deadline.
SLOW_INQUIRIES = POLICY.model_copy(update={"inquiry_schedule": (timedelta(hours=1),)})
SETTLED = {
    OrderStatus.PAID,
    OrderStatus.CANCELLED,
    OrderStatus.NEEDS_REVIEW,
    OrderStatus.FAILED,
    OrderStatus.EXPIRED,
}


def usd(text: str) -> Money:
    return Money.parse(text, "USD")


def waafipay_order(order_id: str) -> CreateOrder:
    return CreateOrder(
        order_id=order_id,
        provider="waafipay",
        amount=usd("10.00"),
        customer=Customer(customer_id="cust-cap", phone=WALLET),
        description="Manual capture order",
        capture_mode=CaptureMode.MANUAL,
        # A pre-authorization waits for the payer: its call limit comes from WaafiPay's longest wait.
        policy=POLICY.model_copy(update={"provider_call_timeout": None}),
    )


def waffo_order(order_id: str, policy: Any = POLICY) -> CreateOrder:
    return CreateOrder(
        order_id=order_id,
        provider="waffo",
        amount=usd("10.00"),
        customer=Customer(customer_id="cust-cap", email="buyer@example.com"),
        description="Manual capture order",
        capture_mode=CaptureMode.MANUAL,
        policy=policy,
    )


@pytest.fixture
async def stack(time_skipping_env: WorkflowEnvironment) -> AsyncIterator[OrderStack]:
    async with order_stack(time_skipping_env.client, env=time_skipping_env) as running:
        running.hub.waafipay.config.repeated_commit = "replay"
        yield running


async def waafipay(stack: OrderStack, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    url = f"{stack.emulator_url}/waafipay/control/{path}"
    response = await stack.control.request(method, url, json=body)
    response.raise_for_status()
    return response.json()


async def waafipay_fault(stack: OrderStack, service: str, kind: str, count: int = 1) -> None:
    await waafipay(stack, "POST", "faults", {"operation": service, "kind": kind, "count": count})


async def waafipay_ledger(stack: OrderStack, reference: str) -> list[tuple[str, str]]:
    """(kind, serviceName) of every money movement of one order's payment, in order."""
    entries = (await waafipay(stack, "GET", "ledger"))["entries"]
    return [(e["kind"], e["serviceName"]) for e in entries if e["referenceId"] == reference]


async def held(stack: OrderStack) -> str:
    return str((await waafipay(stack, "GET", f"wallets/{WALLET}"))["held"])


async def authorized_at_waafipay(stack: OrderStack, order_id: str) -> None:
    order = await stack.billing.create_order(waafipay_order(order_id))
    assert order.status is OrderStatus.AUTHORIZED
    assert await held(stack) == "10.00"


def review_reason(order: Any) -> str:
    assert order.status is OrderStatus.NEEDS_REVIEW
    assert order.review is not None
    return str(order.review.reason)


# -- WaafiPay: the commit's answer is lost (#18.1) -------------------------------------------------------


async def test_commit_answer_lost_is_resent_and_paid(time_skipping_env: WorkflowEnvironment, stack: OrderStack) -> None:
    await authorized_at_waafipay(stack, "cap-lost")
    await waafipay_fault(stack, "API_PREAUTHORIZE_COMMIT", "drop_connection")
    answered = await stack.billing.capture("cap-lost")
    assert answered.status is OrderStatus.AUTHORIZED, "no answer is no statement"
    await time_skipping_env.sleep(timedelta(minutes=5))
    paid = await stack.billing.wait_for_status("cap-lost", SETTLED)
    assert paid.status is OrderStatus.PAID
    assert paid.captured_amount == usd("10.00")
    reference = payment_key("cap-lost")
    assert await waafipay_ledger(stack, reference) == [
        ("authorization", "API_PREAUTHORIZE"),
        ("capture", "API_PREAUTHORIZE_COMMIT"),
    ]
    assert await held(stack) == "0.00"
    await stack.billing.refund("cap-lost", RefundRequest(refund_id="r1", amount=usd("4.00")))
    refunded = await stack.billing.wait_for_status("cap-lost", {OrderStatus.PARTIALLY_REFUNDED})
    assert refunded.refunded == usd("4.00")


async def test_commit_lost_and_repeat_answered_not_found_goes_to_review(
    time_skipping_env: WorkflowEnvironment, stack: OrderStack
) -> None:
    stack.hub.waafipay.config.repeated_commit = "not_found"
    await authorized_at_waafipay(stack, "cap-5213")
    await waafipay_fault(stack, "API_PREAUTHORIZE_COMMIT", "drop_connection")
    await stack.billing.capture("cap-5213")
    await time_skipping_env.sleep(timedelta(minutes=5))
    review = await stack.billing.wait_for_status("cap-5213", SETTLED)
    reason = review_reason(review)
    assert "waafipay" in reason and "captured" in reason
    reference = payment_key("cap-5213")
    assert reference in reason
    # The money was taken: exactly one capture, nothing held, nothing released.
    assert [kind for kind, _ in await waafipay_ledger(stack, reference)] == ["authorization", "capture"]
    assert await held(stack) == "0.00"
    resolved = await stack.billing.resolve(
        "cap-5213", ResolveRequest(operator="ops", reason="committed in the WaafiPay portal", status=OrderStatus.PAID)
    )
    assert resolved.status is OrderStatus.PAID
    assert resolved.captured_amount == usd("10.00")
    await stack.billing.refund("cap-5213", RefundRequest(refund_id="r1", amount=usd("10.00")))
    await stack.billing.wait_for_status("cap-5213", {OrderStatus.REFUNDED})


async def test_commit_never_answered_goes_to_review_and_the_merchant_may_retry_before(
    time_skipping_env: WorkflowEnvironment, stack: OrderStack
) -> None:
    await authorized_at_waafipay(stack, "cap-silent")
    await waafipay_fault(stack, "API_PREAUTHORIZE_COMMIT", "http_500", count=100)
    await stack.billing.capture("cap-silent")
    # Still in doubt: the merchant's retry re-sends the same capture instead of being refused.
    retried = await stack.billing.capture("cap-silent")
    assert retried.status is OrderStatus.AUTHORIZED
    await time_skipping_env.sleep(timedelta(minutes=10))
    review = await stack.billing.wait_for_status("cap-silent", SETTLED)
    assert "no definite answer" in review_reason(review)
    reference = payment_key("cap-silent")
    assert [kind for kind, _ in await waafipay_ledger(stack, reference)] == ["authorization"]
    assert await held(stack) == "10.00"
    resolved = await stack.billing.resolve(
        "cap-silent", ResolveRequest(operator="ops", reason="hold released in the portal", status=OrderStatus.CANCELLED)
    )
    assert resolved.status is OrderStatus.CANCELLED


# -- WaafiPay: the void at the end of the capture window (#18.2) ----------------------------------------


async def test_void_answered_500_is_resent_and_releases_the_hold(
    time_skipping_env: WorkflowEnvironment, stack: OrderStack
) -> None:
    await authorized_at_waafipay(stack, "void-500")
    await waafipay_fault(stack, "API_PREAUTHORIZE_CANCEL", "http_500")
    await time_skipping_env.sleep(timedelta(days=1, minutes=10))
    voided = await stack.billing.wait_for_status("void-500", SETTLED)
    assert voided.status is OrderStatus.CANCELLED
    assert [kind for kind, _ in await waafipay_ledger(stack, payment_key("void-500"))] == ["authorization", "void"]
    assert await held(stack) == "0.00"


async def test_void_never_answered_goes_to_review(time_skipping_env: WorkflowEnvironment, stack: OrderStack) -> None:
    await authorized_at_waafipay(stack, "void-silent")
    await waafipay_fault(stack, "API_PREAUTHORIZE_CANCEL", "http_500", count=100)
    await time_skipping_env.sleep(timedelta(days=1, minutes=10))
    review = await stack.billing.wait_for_status("void-silent", SETTLED)
    reason = review_reason(review)
    assert "released" in reason and payment_key("void-silent") in reason
    assert [kind for kind, _ in await waafipay_ledger(stack, payment_key("void-silent"))] == ["authorization"]
    assert await held(stack) == "10.00"
    resolved = await stack.billing.resolve(
        "void-silent", ResolveRequest(operator="ops", reason="released in the portal", status=OrderStatus.CANCELLED)
    )
    assert resolved.status is OrderStatus.CANCELLED


async def commit_from_the_portal(stack: OrderStack, order_id: str) -> None:
    """The hold is committed at WaafiPay without the engine seeing the answer (from the portal, say)."""
    transaction = (await stack.billing.get_order(order_id)).provider_reference
    assert transaction is not None and transaction.startswith("preauth:")
    envelope = {
        "schemaVersion": "1.0",
        "requestId": "portal-commit",
        "timestamp": "2026-01-01 00:00:00.0",
        "channelName": "WEB",
        "serviceName": "API_PREAUTHORIZE_COMMIT",
        "serviceParams": {
            "merchantUid": WAAFIPAY.merchant_uid,
            "apiUserId": WAAFIPAY.api_user_id,
            "apiKey": WAAFIPAY.api_key,
            "transactionId": transaction.removeprefix("preauth:"),
            "description": "Commit",
        },
    }
    committed = await stack.control.post(f"{stack.emulator_url}/waafipay/asm", json=envelope)
    assert committed.json()["responseCode"] == "2001"


async def test_void_refused_not_found_is_not_ignored(time_skipping_env: WorkflowEnvironment, stack: OrderStack) -> None:
    await authorized_at_waafipay(stack, "void-5213")
    await commit_from_the_portal(stack, "void-5213")
    await time_skipping_env.sleep(timedelta(days=1, minutes=10))
    review = await stack.billing.wait_for_status("void-5213", SETTLED)
    reason = review_reason(review)
    assert "5213" in reason and "captured" in reason
    assert [kind for kind, _ in await waafipay_ledger(stack, payment_key("void-5213"))] == [
        "authorization",
        "capture",
    ]
    resolved = await stack.billing.resolve(
        "void-5213", ResolveRequest(operator="ops", reason="committed in the portal", status=OrderStatus.PAID)
    )
    assert resolved.status is OrderStatus.PAID
    await stack.billing.refund("void-5213", RefundRequest(refund_id="r1", amount=usd("10.00")))
    await stack.billing.wait_for_status("void-5213", {OrderStatus.REFUNDED})


async def test_commit_refused_not_found_is_no_refusal(
    time_skipping_env: WorkflowEnvironment, stack: OrderStack
) -> None:
    # 5213 to a commit says the hold is not open, not whether it was captured: never "capture again".
    stack.hub.waafipay.config.repeated_commit = "not_found"
    await authorized_at_waafipay(stack, "cap-first-5213")
    await commit_from_the_portal(stack, "cap-first-5213")
    await stack.billing.capture("cap-first-5213")
    await time_skipping_env.sleep(timedelta(minutes=5))
    review = await stack.billing.wait_for_status("cap-first-5213", SETTLED)
    assert "captured" in review_reason(review)
    assert [kind for kind, _ in await waafipay_ledger(stack, payment_key("cap-first-5213"))] == [
        "authorization",
        "capture",
    ]
    resolved = await stack.billing.resolve(
        "cap-first-5213", ResolveRequest(operator="ops", reason="committed in the portal", status=OrderStatus.PAID)
    )
    assert resolved.captured_amount == usd("10.00")


# -- Waffo -----------------------------------------------------------------------------------------------


async def test_authorization_made_before_the_deadline_is_not_voided_at_the_deadline(
    time_skipping_env: WorkflowEnvironment, stack: OrderStack
) -> None:
    # Waffo does not push AUTHED_WAITING_CAPTURE and no inquiry runs before the deadline: the deadline is
    # the first time the engine looks. It inquires before closing, and an authorization is kept.
    await stack.billing.create_order(waffo_order("waffo-auth-deadline", policy=SLOW_INQUIRIES))
    await stack.customer("waffo-auth-deadline", "pay")
    await time_skipping_env.sleep(timedelta(minutes=11))
    order = await stack.billing.wait_for_status("waffo-auth-deadline", {OrderStatus.AUTHORIZED, *SETTLED})
    assert order.status is OrderStatus.AUTHORIZED
    assert not await stack.ledger("void")
    await stack.billing.capture("waffo-auth-deadline")
    paid = await stack.billing.wait_for_status("waffo-auth-deadline", SETTLED)
    assert paid.status is OrderStatus.PAID
    assert len(await stack.ledger("capture")) == 1


async def test_waffo_capture_answered_500_is_inquired_then_resent(
    time_skipping_env: WorkflowEnvironment, stack: OrderStack
) -> None:
    await stack.billing.create_order(waffo_order("waffo-cap-500"))
    await stack.customer("waffo-cap-500", "pay")
    await time_skipping_env.sleep(timedelta(seconds=35))
    await stack.billing.wait_for_status("waffo-cap-500", {OrderStatus.AUTHORIZED})
    await stack.fault("order/capture", "http_500")
    answered = await stack.billing.capture("waffo-cap-500")
    assert answered.status is OrderStatus.AUTHORIZED
    await time_skipping_env.sleep(timedelta(minutes=5))
    paid = await stack.billing.wait_for_status("waffo-cap-500", SETTLED)
    assert paid.status is OrderStatus.PAID
    assert len(await stack.ledger("capture")) == 1


async def test_waffo_capture_in_progress_forever_goes_to_review_then_settles_by_statement(
    time_skipping_env: WorkflowEnvironment, stack: OrderStack
) -> None:
    stack.hub.waffo.config.capture_delay_s = None  # CAPTURE_IN_PROGRESS until the control API completes it
    await stack.billing.create_order(waffo_order("waffo-cap-slow"))
    await stack.customer("waffo-cap-slow", "pay")
    await time_skipping_env.sleep(timedelta(seconds=35))
    await stack.billing.wait_for_status("waffo-cap-slow", {OrderStatus.AUTHORIZED})
    await stack.billing.capture("waffo-cap-slow")
    await time_skipping_env.sleep(timedelta(minutes=10))
    review = await stack.billing.wait_for_status("waffo-cap-slow", SETTLED)
    assert "not confirmed" in review_reason(review)
    completed = await stack.control.post(f"/captures/{payment_key('waffo-cap-slow')}/complete")
    completed.raise_for_status()
    paid = await stack.billing.wait_for_status("waffo-cap-slow", {OrderStatus.PAID})
    assert paid.captured_amount == usd("10.00")
    assert len(await stack.ledger("capture")) == 1
