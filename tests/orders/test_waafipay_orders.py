"""Orders through WaafiPay: wallet push (a synchronous decision), pre-authorization, the hosted payment
page, refunds, and the double-charge case: the payer approves after the client timed out."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from billing.gateway import CaptureMode, Customer, CustomerActionKind
from billing.idempotency import payment_key
from billing.money import Money
from billing.orders import CreateOrder, Order, OrderPolicy, OrderStatus, RefundRequest
from tests.support.stack import TEST_ORDER_POLICY, OrderStack, order_stack

WALLET = "252611111111"  # a sandbox EVCPlus wallet
#: A MWALLET_ACCOUNT hosted page is for one wallet (seed 002: payerInfo.subscriptionId is required).
PAGE_PAYER = Customer(customer_id="c", phone=WALLET)


def waafipay_order(order_id: str, amount: str = "10.00", **overrides: Any) -> CreateOrder:
    fields: dict[str, Any] = {
        "order_id": order_id,
        "provider": "waafipay",
        "amount": Money.parse(amount, "USD"),
        "customer": Customer(customer_id="cust-w", phone=WALLET),
        "description": "Wallet order",
    }
    fields.update(overrides)
    return CreateOrder.model_validate(fields)


@pytest.fixture
async def stack(time_skipping_env: WorkflowEnvironment) -> AsyncIterator[OrderStack]:
    async with order_stack(time_skipping_env.client, env=time_skipping_env) as running:
        yield running


async def waafipay(stack: OrderStack, path: str, body: dict[str, Any] | None = None) -> Any:
    response = await stack.control.post(f"{stack.emulator_url}/waafipay/control/{path}", json=body or {})
    response.raise_for_status()
    return response.json()


async def charges(stack: OrderStack) -> list[dict[str, Any]]:
    response = await stack.control.get(f"{stack.emulator_url}/waafipay/control/ledger")
    return [e for e in response.json()["entries"] if e["kind"] == "charge"]


async def inquired(stack: OrderStack, order_id: str, within_s: float = 20.0) -> Order:
    """The order once its timeline shows an inquiry (polled, bounded)."""
    deadline = asyncio.get_running_loop().time() + within_s
    order = await stack.billing.get_order(order_id)
    while not any(entry.event == "inquiry" for entry in order.timeline):
        assert asyncio.get_running_loop().time() < deadline, f"{order_id} never inquired: {order.timeline}"
        await asyncio.sleep(0.05)
        order = await stack.billing.get_order(order_id)
    return order


async def test_push_approved_is_paid_in_the_create_call(stack: OrderStack) -> None:
    order = await stack.billing.create_order(waafipay_order("w-push"))
    assert order.status is OrderStatus.PAID
    assert len(await charges(stack)) == 1
    await stack.billing.refund("w-push", RefundRequest(refund_id="wr1", amount=Money.parse("3.00", "USD")))
    await stack.billing.refund("w-push", RefundRequest(refund_id="wr2", amount=Money.parse("2.00", "USD")))
    refunded = await stack.billing.wait_for_status("w-push", {OrderStatus.PARTIALLY_REFUNDED})
    assert refunded.refunded == Money.parse("5.00", "USD")


async def test_push_declined_keeps_the_providers_reason(stack: OrderStack) -> None:
    await waafipay(
        stack, "wallets", {"number": "252611111112", "balance": "100.00", "pin": "1212", "behaviour": "insufficient"}
    )
    order = await stack.billing.create_order(
        waafipay_order("w-declined", customer=Customer(customer_id="c", phone="252611111112"))
    )
    assert order.status is OrderStatus.FAILED
    assert order.failure is not None
    assert not order.failure.hard, "insufficient balance is worth retrying later"
    assert not await charges(stack)


@pytest.fixture
async def tran_info_stack(time_skipping_env: WorkflowEnvironment) -> AsyncIterator[OrderStack]:
    """BILLING_WAAFIPAY_TRAN_INFO_FOR_PUSHES on, against an emulator whose HPP_GETTRANINFO finds pushes."""
    settings = {"tran_info_for_pushes": True}
    async with order_stack(time_skipping_env.client, env=time_skipping_env, waafipay_settings=settings) as running:
        running.hub.waafipay.config.tran_info_includes_api = True
        yield running


async def test_payer_approving_after_the_timeout_is_charged_once_and_paid_by_inquiry(
    tran_info_stack: OrderStack,
) -> None:
    # The payer approves 3 s after the push (30 s × the emulator's time scale); the client gives up at 1.5 s.
    stack = tran_info_stack
    await waafipay(
        stack,
        "wallets",
        {
            "number": "252611111113",
            "balance": "100.00",
            "pin": "1212",
            "behaviour": {"action": "approve", "afterS": 30},
        },
    )
    order = await stack.billing.create_order(
        waafipay_order("w-late", customer=Customer(customer_id="c", phone="252611111113"))
    )
    assert order.status is OrderStatus.UNKNOWN, "a timeout is never a failure"
    settled = await stack.billing.wait_for_status(
        "w-late", {OrderStatus.PAID, OrderStatus.NEEDS_REVIEW}, timeout=timedelta(seconds=30)
    )
    assert settled.status is OrderStatus.PAID
    assert len(await charges(stack)) == 1, "never a second purchase"
    assert OrderStatus.FAILED not in {entry.status for entry in settled.timeline}


async def test_preauthorization_then_capture(stack: OrderStack) -> None:
    order = await stack.billing.create_order(waafipay_order("w-auth", capture_mode=CaptureMode.MANUAL))
    assert order.status is OrderStatus.AUTHORIZED
    captured = await stack.billing.capture("w-auth")
    assert captured.status is OrderStatus.PAID


async def test_preauthorization_then_cancel(stack: OrderStack) -> None:
    await stack.billing.create_order(waafipay_order("w-void", capture_mode=CaptureMode.MANUAL))
    cancelled = await stack.billing.cancel("w-void", reason="out of stock")
    assert cancelled.status is OrderStatus.CANCELLED
    assert not await charges(stack)


async def test_hosted_page_paid_and_found_by_polling(stack: OrderStack) -> None:
    order = await stack.billing.create_order(waafipay_order("w-hpp", payment_method="HPP", customer=PAGE_PAYER))
    assert order.status is OrderStatus.PENDING
    assert order.customer_action is not None and order.customer_action.kind is CustomerActionKind.REDIRECT
    await waafipay(stack, f"hpp/{payment_key('w-hpp')}/approve")
    paid = await stack.billing.wait_for_status("w-hpp", {OrderStatus.PAID}, timeout=timedelta(seconds=20))
    assert any(entry.event == "inquiry" for entry in paid.timeline)


@pytest.mark.parametrize(("action", "status"), [("decline", OrderStatus.FAILED), ("cancel", OrderStatus.FAILED)])
async def test_hosted_page_failed_or_abandoned(stack: OrderStack, action: str, status: OrderStatus) -> None:
    order_id = f"w-hpp-{action}"
    await stack.billing.create_order(waafipay_order(order_id, payment_method="HPP", customer=PAGE_PAYER))
    answer = await waafipay(stack, f"hpp/{payment_key(order_id)}/{action}")
    redirect = answer["redirect"]
    assert redirect["url"].startswith(f"{stack.webhook_url}/callbacks/waafipay/orders/{order_id}/failure")
    assert "hppResultToken=" in redirect["url"]
    # The customer's browser comes back through our HTTP service: the token is a hint to inquire now.
    async with httpx.AsyncClient() as http:
        back = await http.request(redirect["method"], redirect["url"], data=redirect["fields"] or None)
    assert back.status_code == 200
    failed = await stack.billing.wait_for_status(order_id, {status}, timeout=timedelta(seconds=20))
    assert failed.failure is not None


async def test_forged_success_redirect_changes_nothing(stack: OrderStack) -> None:
    await stack.billing.create_order(
        waafipay_order(
            "w-forged",
            payment_method="HPP",
            customer=PAGE_PAYER,
            success_url="https://shop.example/thanks",
        )
    )
    async with httpx.AsyncClient() as http:
        back = await http.get(
            f"{stack.webhook_url}/callbacks/waafipay/orders/w-forged/success?hppResultToken=forged&state=APPROVED"
        )
    assert back.status_code == 303
    assert back.headers["location"] == "https://shop.example/thanks"
    # The hint makes the order inquire; the provider says it is not paid.
    order = await inquired(stack, "w-forged")
    assert order.status is OrderStatus.PENDING
    assert any(entry.event == "inquiry" for entry in order.timeline)
    assert not await charges(stack)


async def test_a_token_of_another_payment_is_never_a_statement_about_this_one(stack: OrderStack) -> None:
    for order_id in ("w-mine", "w-other"):
        await stack.billing.create_order(waafipay_order(order_id, payment_method="HPP", customer=PAGE_PAYER))
    answer = await waafipay(stack, f"hpp/{payment_key('w-other')}/approve")
    token = answer["redirect"]["url"].split("hppResultToken=")[1]
    async with httpx.AsyncClient() as http:
        await http.get(f"{stack.webhook_url}/callbacks/waafipay/orders/w-mine/success?hppResultToken={token}")
    await stack.billing.wait_for_status("w-other", {OrderStatus.PAID}, timeout=timedelta(seconds=20))
    mine = await inquired(stack, "w-mine")  # the token made it ask about its own payment: not paid
    assert mine.status is OrderStatus.PENDING


@pytest.mark.parametrize("action", ["decline", None])
async def test_an_untouched_hosted_page_that_lapsed_is_expired(
    time_skipping_env: WorkflowEnvironment, stack: OrderStack, action: str | None
) -> None:
    # The payer declined on the page (or never acted) and never came back: no redirect, no token. WaafiPay's
    # page lapses after 5 minutes; HPP_GETTRANINFO then answers 5213 (no such transaction) for good.
    order_id = f"w-hpp-lapsed-{action}"
    customer = Customer(customer_id="c", phone=WALLET)
    request = waafipay_order(order_id, payment_method="HPP", customer=customer, policy=TEST_ORDER_POLICY)
    created = await stack.billing.create_order(request)
    if action:
        await waafipay(stack, f"hpp/{payment_key(order_id)}/{action}")
    await time_skipping_env.sleep(timedelta(minutes=11))
    order = await stack.billing.wait_for_status(
        order_id, {OrderStatus.EXPIRED, OrderStatus.FAILED, OrderStatus.NEEDS_REVIEW}, timeout=timedelta(seconds=20)
    )
    assert order.status is OrderStatus.EXPIRED
    assert order.captured_amount is None
    assert not await charges(stack)
    assert created.customer_action is not None and created.customer_action.expires_at is not None
    assert created.customer_action.expires_at <= created.created_at + timedelta(minutes=5)


async def test_an_unpaid_hosted_page_is_waited_out_not_reviewed_when_inquiries_run_out_first(
    time_skipping_env: WorkflowEnvironment, stack: OrderStack
) -> None:
    # A short deadline and few inquiries: they run out long before the page's 5 minutes. The page cannot be
    # closed, so the order waits for the lapse instead of going to review, then concludes EXPIRED.
    order_id = "w-hpp-wait-lapse"
    policy = OrderPolicy(
        payment_window=timedelta(seconds=30),
        inquiry_schedule=(timedelta(seconds=2), timedelta(seconds=4), timedelta(seconds=8)),
        unknown_inquiry_limit=3,
    )
    request = waafipay_order(order_id, payment_method="HPP", customer=PAGE_PAYER, policy=policy)
    await stack.billing.create_order(request)
    await time_skipping_env.sleep(timedelta(minutes=2))
    waiting = await stack.billing.get_order(order_id)
    assert waiting.status is OrderStatus.PENDING, "the page is still open: the payer may still pay"
    await time_skipping_env.sleep(timedelta(minutes=5))
    order = await stack.billing.wait_for_status(
        order_id, {OrderStatus.EXPIRED, OrderStatus.NEEDS_REVIEW}, timeout=timedelta(seconds=20)
    )
    assert order.status is OrderStatus.EXPIRED, order.review
    assert "provider.cancel" not in [entry.event for entry in order.timeline]
    assert not await charges(stack)


async def test_a_push_whose_answer_was_lost_goes_to_review_with_what_to_check_in_the_portal(
    time_skipping_env: WorkflowEnvironment, stack: OrderStack
) -> None:
    # A gateway 500 before WaafiPay handled the push: nothing happened, but the engine cannot know that. No
    # WaafiPay source documents a status query for pushes (BILLING_WAAFIPAY_TRAN_INFO_FOR_PUSHES is off by
    # default) and a push is never repeated (it would ask the payer again): an operator decides, told what
    # to look for in the WaafiPay portal.
    await waafipay(stack, "faults", {"operation": "API_PURCHASE", "kind": "http_500"})
    policy = TEST_ORDER_POLICY.model_copy(update={"provider_call_timeout": None})
    order = await stack.billing.create_order(waafipay_order("w-push-lost", amount="12.34", policy=policy))
    assert order.status is OrderStatus.UNKNOWN
    await time_skipping_env.sleep(timedelta(minutes=1))  # the first inquiry is due after 30 s
    review = await stack.billing.wait_for_status(
        "w-push-lost", {OrderStatus.NEEDS_REVIEW}, timeout=timedelta(seconds=20)
    )
    assert not any(e.event == "provider.create_resent" for e in review.timeline)
    assert review.review is not None
    reason = review.review.reason
    for needed in (
        f"referenceId {payment_key('w-push-lost')}",
        "12.34 USD",
        f"sent at {order.created_at.isoformat()}",
        "payment method wallet push",
        "WaafiPay merchant portal",
    ):
        assert needed in reason, (needed, reason)
    assert not await charges(stack)


@pytest.mark.timeout(400)
async def test_slow_payer_at_the_real_timings_is_charged_once_and_paid(time_skipping_env: WorkflowEnvironment) -> None:
    # The documented timings, unscaled: the client waits up to 120 s for the push (reference A7), the payer
    # approves after 75 s (past the old 60 s call limit), and a repeated referenceId starts a new payment.
    # The activity's call limit comes from the provider's longest wait, so the push concludes in its call.
    settings = {"push_timeout": 120.0}
    async with order_stack(time_skipping_env.client, env=time_skipping_env, waafipay_settings=settings) as stack:
        config = stack.hub.waafipay.config
        config.time_scale = 1.0
        config.pin_timeout_s = 110.0
        config.duplicate_reference = "allow"
        wallet = {"number": "252611111114", "balance": "100.00", "pin": "1212"}
        await waafipay(stack, "wallets", {**wallet, "behaviour": {"action": "approve", "afterS": 75}})
        order = await stack.billing.create_order(
            waafipay_order("w-slow-payer", customer=Customer(customer_id="c", phone=wallet["number"]))
        )
        assert order.status is OrderStatus.PAID, order.timeline
        assert len(await charges(stack)) == 1, "the push was sent once"


async def test_create_cut_off_by_its_call_limit_is_never_sent_again(stack: OrderStack) -> None:
    # The page is created but its answer is held past the call limit: Temporal's retry must not send
    # HPP_PURCHASE again (a repeated referenceId starts a new payment here); the order is reconciled instead.
    stack.hub.waafipay.config.duplicate_reference = "allow"
    fault = {"operation": "HPP_PURCHASE", "kind": "timeout_after_commit", "params": {"ms": 4000}}
    await waafipay(stack, "faults", fault)
    policy = TEST_ORDER_POLICY.model_copy(update={"provider_call_timeout": timedelta(seconds=2)})
    order = await stack.billing.create_order(
        waafipay_order("w-cut-off", payment_method="HPP", customer=PAGE_PAYER, policy=policy)
    )
    assert order.status is OrderStatus.UNKNOWN, order.timeline
    assert any("never sent again" in entry.detail for entry in order.timeline)
    assert len(stack.hub.waafipay.state.orders) == 1, "HPP_PURCHASE was sent once"


async def test_a_hosted_page_whose_create_answer_was_lost_fails_once_the_page_has_lapsed_not_reviewed(
    time_skipping_env: WorkflowEnvironment, stack: OrderStack
) -> None:
    # HPP_PURCHASE is committed, then the connection drops: WaafiPay may hold a page, but its URL never
    # reached the engine, so no customer was shown it. HPP_GETTRANINFO answers 5213 for an unpaid page and
    # for no page alike; once a page made by that call has lapsed (5 minutes, RCS_HPP_USERACTION_TIMEOUT,
    # with no transaction until paid), 5213 means nothing was taken: FAILED, not an operator's review.
    order_id = "w-hpp-create-lost"
    await waafipay(stack, "faults", {"operation": "HPP_PURCHASE", "kind": "drop_connection"})
    request = waafipay_order(order_id, payment_method="HPP", customer=PAGE_PAYER, policy=TEST_ORDER_POLICY)
    created = await stack.billing.create_order(request)
    assert created.status is OrderStatus.UNKNOWN, created.timeline
    await time_skipping_env.sleep(timedelta(minutes=2))
    waiting = await stack.billing.get_order(order_id)
    assert waiting.status is OrderStatus.UNKNOWN, "a page made by the lost call may still be open"
    await time_skipping_env.sleep(timedelta(minutes=6))
    order = await stack.billing.wait_for_status(
        order_id, {OrderStatus.FAILED, OrderStatus.EXPIRED, OrderStatus.NEEDS_REVIEW}, timeout=timedelta(seconds=20)
    )
    assert order.status is OrderStatus.FAILED, order.review
    assert any("never shown and lapsed" in entry.detail for entry in order.timeline), order.timeline
    assert not await charges(stack)
