"""Orders through KESS Pay (no webhooks): the workflow polls the payment status, closes at the deadline
and confirms, and refunds; all through the real KESS client and emulator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from billing.errors import InvalidStateError
from billing.gateway import Customer, CustomerActionKind
from billing.idempotency import payment_key
from billing.money import Money
from billing.orders import LATE_PAYMENT_WATCH, CreateOrder, OrderPolicy, OrderStatus, RefundRequest, RefundState
from tests.support.stack import TEST_ORDER_POLICY, OrderStack, order_stack


def kess_order(order_id: str, amount: str = "10.00") -> CreateOrder:
    return CreateOrder(
        order_id=order_id,
        provider="kess",
        amount=Money.parse(amount, "USD"),
        customer=Customer(customer_id="cust-k"),
        description="QR order",
    )


@pytest.fixture
async def time_skipping_env(own_time_skipping_env: WorkflowEnvironment) -> WorkflowEnvironment:
    """A time-skipping server per test here, not the shared one. KESS orders that end unpaid keep a
    late-payment watch (timers, then inquiries); with one of them slept through and terminated, the shared
    test server was seen to stop skipping time for every test after it (temporal-test-server 1.x)."""
    return own_time_skipping_env


@pytest.fixture
async def stack(time_skipping_env: WorkflowEnvironment) -> AsyncIterator[OrderStack]:
    async with order_stack(time_skipping_env.client, env=time_skipping_env) as running:
        yield running


async def kess_control(stack: OrderStack, order_id: str, action: str, body: dict[str, object] | None = None) -> None:
    url = f"{stack.emulator_url}/kess/control/orders/{payment_key(order_id)}/{action}"
    response = await stack.control.post(url, json=body or {})
    response.raise_for_status()


async def test_native_pay_shows_a_qr_and_is_found_paid_by_polling(stack: OrderStack) -> None:
    request = kess_order("k-native")
    assert request.policy.inquiry_schedule[0] == timedelta(seconds=3), "no webhooks: polled every 3 s"
    order = await stack.billing.create_order(request)
    assert order.status is OrderStatus.PENDING
    assert order.customer_action is not None
    assert order.customer_action.kind is CustomerActionKind.QR
    assert order.customer_action.qr
    await kess_control(stack, "k-native", "pay")
    paid = await stack.billing.wait_for_status("k-native", {OrderStatus.PAID}, timeout=timedelta(seconds=20))
    assert any(entry.event == "inquiry" for entry in paid.timeline)

    await stack.billing.refund("k-native", RefundRequest(refund_id="kr1", amount=Money.parse("4.00", "USD")))
    partly = await stack.billing.wait_for_status("k-native", {OrderStatus.PARTIALLY_REFUNDED})
    assert partly.refunded == Money.parse("4.00", "USD")
    await stack.billing.refund("k-native", RefundRequest(refund_id="kr2", amount=Money.parse("6.00", "USD")))
    await stack.billing.wait_for_status("k-native", {OrderStatus.REFUNDED})


@pytest.fixture
async def closing_stack(time_skipping_env: WorkflowEnvironment) -> AsyncIterator[OrderStack]:
    """A KESS account with a close call (not in seed 004): the emulator's close_endpoint and the client's
    supports_close on."""
    async with order_stack(time_skipping_env.client, kess_settings={"supports_close": True}) as running:
        running.hub.kess.config.close_endpoint = True
        yield running


async def test_unpaid_qr_is_closed_at_the_deadline_and_confirmed(
    time_skipping_env: WorkflowEnvironment, closing_stack: OrderStack
) -> None:
    stack = closing_stack
    await stack.billing.create_order(kess_order("k-expire"))
    await time_skipping_env.sleep(timedelta(minutes=31))
    expired = await stack.billing.wait_for_status("k-expire", {OrderStatus.EXPIRED}, timeout=timedelta(seconds=20))
    events = [entry.event for entry in expired.timeline]
    assert "provider.cancel" in events


def quick_pay(order_id: str, auth_code: str) -> CreateOrder:
    return CreateOrder(
        order_id=order_id,
        provider="kess",
        amount=Money.parse("8.00", "USD"),
        customer=Customer(customer_id="cust-q"),
        payment_method=f"QUICKPAY:{auth_code}",
    )


async def test_quick_pay_instant(stack: OrderStack) -> None:
    assert quick_pay("k-q1", "134567890123456789").policy.payment_window == timedelta(seconds=45)
    order = await stack.billing.create_order(quick_pay("k-q1", "134567890123456789"))
    assert order.status is OrderStatus.PAID


async def test_quick_pay_after_userpaying_is_found_by_polling(stack: OrderStack) -> None:
    order = await stack.billing.create_order(quick_pay("k-q2", "140067890123456789"))
    if order.status is not OrderStatus.PAID:
        assert order.status is OrderStatus.PENDING
        await stack.billing.wait_for_status("k-q2", {OrderStatus.PAID}, timeout=timedelta(seconds=20))


async def test_quick_pay_never_confirmed_expires_after_45_seconds_without_a_close(
    time_skipping_env: WorkflowEnvironment, stack: OrderStack
) -> None:
    order = await stack.billing.create_order(quick_pay("k-q3", "140167890123456789"))
    assert order.status is OrderStatus.PENDING

    async def revoked_at_kess() -> bool:  # WeChat revokes an unpaid quick pay 45 s (x 0.1 here) after creation
        response = await stack.control.get(f"{stack.emulator_url}/kess/control/orders/{payment_key('k-q3')}")
        return bool(response.json()["trade_state"] == "REVOKED")

    await wait_until(revoked_at_kess)
    await time_skipping_env.sleep(timedelta(seconds=50))
    closed = await stack.billing.wait_for_status(
        "k-q3", {OrderStatus.EXPIRED, OrderStatus.FAILED}, timeout=timedelta(seconds=20)
    )
    events = [entry.event for entry in closed.timeline]
    assert "provider.cancel" not in events, "seed 004 has no close: never called"
    ledger = (await stack.control.get(f"{stack.emulator_url}/kess/control/ledger")).json()["entries"]
    assert not [e for e in ledger if e["kind"] == "charge" and payment_key("k-q3") in str(e)], "never charged"


# -- token failures around the create call (issue #18.3) ----------------------------------------------------


async def kess_post(stack: OrderStack, path: str, body: dict[str, object] | None = None) -> None:
    response = await stack.control.post(f"{stack.emulator_url}/kess/control/{path}", json=body or {})
    response.raise_for_status()


async def kess_fault(stack: OrderStack, operation: str, kind: str, count: int = 1, **params: object) -> None:
    await kess_post(stack, "faults", {"operation": operation, "kind": kind, "count": count, "params": params})


async def kess_charges(stack: OrderStack, order_id: str) -> list[str]:
    response = await stack.control.get(f"{stack.emulator_url}/kess/control/ledger")
    response.raise_for_status()
    return [
        entry["amount"]
        for entry in response.json()["entries"]
        if entry["kind"] == "charge" and entry["out_trade_no"] == payment_key(order_id)
    ]


async def kess_has_order(stack: OrderStack, order_id: str) -> bool:
    response = await stack.control.get(f"{stack.emulator_url}/kess/control/orders/{payment_key(order_id)}")
    return response.status_code == 200


def short_call_order(order_id: str) -> CreateOrder:
    # The activity gives up on a call after 2 s, before the client's own 5 s read timeout: Temporal then
    # retries the create with the same out_trade_no, as after a worker crash.
    return kess_order(order_id, "20.00").model_copy(
        update={"policy": TEST_ORDER_POLICY.model_copy(update={"provider_call_timeout": timedelta(seconds=2)})}
    )


async def test_create_committed_then_retry_refused_a_token_is_unknown_and_reconciled(stack: OrderStack) -> None:
    # KESS creates the QR but its answer never arrives in time; the retry's token request is then refused.
    await kess_fault(stack, "native_pay", "timeout_after_commit", ms=6000)
    creating = asyncio.create_task(stack.billing.create_order(short_call_order("k-lost-token")))
    for _ in range(200):  # bounded: the first attempt reaches KESS within milliseconds
        if await kess_has_order(stack, "k-lost-token"):
            break
        await asyncio.sleep(0.05)
    assert await kess_has_order(stack, "k-lost-token"), "the first attempt created the QR"
    await kess_post(stack, "tokens/expire")
    await kess_fault(stack, "token", "refuse_token")

    order = await creating
    assert order.status is OrderStatus.UNKNOWN, "an earlier attempt may have created the QR: never FAILED"
    assert any("earlier attempt" in entry.detail for entry in order.timeline)

    # The customer pays the QR the first attempt created: the engine finds it by inquiry.
    await kess_control(stack, "k-lost-token", "pay")
    await stack.billing.check_now("k-lost-token")
    paid = await stack.billing.wait_for_status("k-lost-token", {OrderStatus.PAID}, timeout=timedelta(seconds=20))
    assert paid.captured_amount == Money.parse("20.00", "USD")
    assert await kess_charges(stack, "k-lost-token") == ["20.00"]


async def test_transient_token_failure_on_create_is_retried(stack: OrderStack) -> None:
    await kess_post(stack, "tokens/expire")
    await kess_fault(stack, "token", "system_error")
    order = await stack.billing.create_order(kess_order("k-token-syserr"))
    assert order.status is OrderStatus.PENDING, "a token the provider could not issue now is no configuration error"
    assert order.customer_action is not None and order.customer_action.qr
    await kess_control(stack, "k-token-syserr", "pay")
    await stack.billing.check_now("k-token-syserr")
    await stack.billing.wait_for_status("k-token-syserr", {OrderStatus.PAID}, timeout=timedelta(seconds=20))
    assert await kess_charges(stack, "k-token-syserr") == ["10.00"]


async def test_token_refused_before_anything_was_sent_fails_the_order(stack: OrderStack) -> None:
    await kess_post(stack, "tokens/expire")
    await kess_fault(stack, "token", "refuse_token")
    order = await stack.billing.create_order(kess_order("k-token-refused"))
    assert order.status is OrderStatus.FAILED
    assert any("ConfigurationError" in entry.detail for entry in order.timeline)
    assert not await kess_has_order(stack, "k-token-refused")


async def test_create_lost_before_kess_recorded_it_is_resent_with_the_same_out_trade_no(
    time_skipping_env: WorkflowEnvironment, stack: OrderStack
) -> None:
    response = await stack.control.post(
        f"{stack.emulator_url}/kess/control/faults", json={"operation": "native_pay", "kind": "http_500"}
    )
    response.raise_for_status()
    order = await stack.billing.create_order(kess_order("k-resend"))
    assert order.status is OrderStatus.UNKNOWN
    # The first poll answers ORDERNOTEXIST; the create is sent again with the same out_trade_no.
    pending = await stack.billing.wait_for_status("k-resend", {OrderStatus.PENDING}, timeout=timedelta(seconds=20))
    assert pending.customer_action is not None and pending.customer_action.qr
    assert any(e.event == "provider.create_resent" for e in pending.timeline)
    assert any("ORDERNOTEXIST" in e.detail for e in pending.timeline)
    await kess_control(stack, "k-resend", "pay")
    await stack.billing.wait_for_status("k-resend", {OrderStatus.PAID}, timeout=timedelta(seconds=20))


async def test_a_create_kess_never_records_is_re_sent_a_bounded_number_of_times_then_reviewed(
    time_skipping_env: WorkflowEnvironment, stack: OrderStack
) -> None:
    response = await stack.control.post(
        f"{stack.emulator_url}/kess/control/faults",
        json={"operation": "native_pay", "kind": "http_500", "count": 1000},
    )
    response.raise_for_status()
    policy = OrderPolicy.for_provider("kess", payment_window=timedelta(minutes=2), unknown_inquiry_limit=3)
    request = kess_order("k-never").model_copy(update={"policy": policy})
    order = await stack.billing.create_order(request)
    assert order.status is OrderStatus.UNKNOWN
    await time_skipping_env.sleep(timedelta(minutes=5))
    review = await stack.billing.wait_for_status("k-never", {OrderStatus.NEEDS_REVIEW}, timeout=timedelta(seconds=30))
    resent = [e for e in review.timeline if e.event == "provider.create_resent"]
    assert len(resent) == 3, "polled every 3 s, re-sent only up to the limit"
    assert review.review is not None
    assert "ORDERNOTEXIST" in review.review.reason and "re-sent 3 times" in review.review.reason


# -- a refusal inside a success envelope (issue #13.1) ---------------------------------------------


@pytest.mark.parametrize("envelope", ["result_code_fail", "result_code_fail_bare"])
async def test_quick_pay_refused_inside_a_success_envelope_is_never_paid(stack: OrderStack, envelope: str) -> None:
    stack.hub.kess.config.failure_envelope = envelope
    order_id = f"k-fail-{envelope[-4:]}"
    created = await stack.billing.create_order(quick_pay(order_id, "140367890123456789"))  # NOTENOUGH
    assert created.status is not OrderStatus.PAID, "KESS answered result_code FAIL"
    await stack.billing.check_now(order_id)
    failed = await stack.billing.wait_for_status(order_id, {OrderStatus.FAILED}, timeout=timedelta(seconds=30))
    assert failed.failure is not None and failed.failure.code == "NOTENOUGH"
    assert await kess_charges(stack, order_id) == []


# -- the answer is about the object we asked for (issue #13.2) ------------------------------------


async def wait_until(check: Callable[[], Awaitable[bool]], *, within_s: float = 20.0) -> None:
    """Bounded polling (no fixed sleeps): until `check` holds or the time is up."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not await check():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def test_a_refund_status_about_another_refund_never_settles_ours(stack: OrderStack) -> None:
    # Seed 004: CHECK REFUND STATUS names the order (out_trade_no); the emulator, as the seed, answers the order's
    # latest refund. That answer is about r2 and must not settle r1.
    await stack.billing.create_order(kess_order("k-refunds"))
    await kess_control(stack, "k-refunds", "pay")
    await stack.billing.check_now("k-refunds")
    await stack.billing.wait_for_status("k-refunds", {OrderStatus.PAID}, timeout=timedelta(seconds=20))
    stack.hub.kess.config.refund_delay_s = None  # refunds stay PROCESSING until the control API settles them
    await stack.billing.refund("k-refunds", RefundRequest(refund_id="r1", amount=Money.parse("3.00", "USD")))
    second = await stack.billing.refund("k-refunds", RefundRequest(refund_id="r2", amount=Money.parse("2.00", "USD")))
    await kess_post(stack, f"refunds/{second.request_key}/succeed")

    async def r2_settled() -> bool:
        await stack.billing.check_now("k-refunds")
        order = await stack.billing.get_order("k-refunds")
        return any(r.refund_id == "r2" and r.status is RefundState.SUCCEEDED for r in order.refunds)

    await wait_until(r2_settled)
    order = await stack.billing.get_order("k-refunds")
    first = next(r for r in order.refunds if r.refund_id == "r1")
    assert first.status is not RefundState.SUCCEEDED, "r2's statement settled r1"
    assert any(e.event == "refund_inquiry" and "r1" in e.detail and "out_refund_no" in e.detail for e in order.timeline)
    assert order.refunded == Money.parse("2.00", "USD")


async def test_a_paid_status_of_another_order_does_not_pay_ours(stack: OrderStack) -> None:
    await stack.billing.create_order(kess_order("k-other-paid"))
    await kess_control(stack, "k-other-paid", "pay")
    await stack.billing.create_order(kess_order("k-mine"))
    await kess_fault(stack, "payment_status", "other_object", count=2, out_trade_no=payment_key("k-other-paid"))

    async def answered_about_another() -> bool:
        await stack.billing.check_now("k-mine")
        return not stack.hub.kess.faults.list()

    await wait_until(answered_about_another)  # both answers about the paid order were given (and retried past)
    assert (await stack.billing.get_order("k-mine")).status is OrderStatus.PENDING
    await kess_control(stack, "k-mine", "pay")
    await stack.billing.check_now("k-mine")
    await stack.billing.wait_for_status("k-mine", {OrderStatus.PAID}, timeout=timedelta(seconds=20))


# -- no close in seed 004 (issue #13.3) -------------------------------------------------------------


async def timeline_has(stack: OrderStack, order_id: str, event: str, text: str) -> bool:
    order = await stack.billing.get_order(order_id)
    return any(entry.event == event and text in entry.detail for entry in order.timeline)


async def test_unpaid_qr_without_close_waits_out_the_code_then_expires(
    time_skipping_env: WorkflowEnvironment, stack: OrderStack
) -> None:
    await stack.billing.create_order(kess_order("k-noclose"))
    await time_skipping_env.sleep(timedelta(minutes=31))  # past the engine's deadline, inside KESS's 2 h code
    await wait_until(lambda: timeline_has(stack, "k-noclose", "closing", "cannot close"))
    waiting = await stack.billing.get_order("k-noclose")
    assert waiting.status is OrderStatus.PENDING, "the buyer may still pay the code at KESS"
    assert "provider.cancel" not in [entry.event for entry in waiting.timeline]

    # KESS's code lifetime ends (2 h, x 0.1 in the emulator): KESS closes the order itself.
    await kess_post(stack, "clock/advance", {"seconds": 2 * 3600 * 0.1 + 1})
    await time_skipping_env.sleep(timedelta(hours=2))
    expired = await stack.billing.wait_for_status("k-noclose", {OrderStatus.EXPIRED}, timeout=timedelta(seconds=20))
    assert "provider.cancel" not in [entry.event for entry in expired.timeline]
    assert await kess_charges(stack, "k-noclose") == []


async def test_a_payment_after_the_deadline_while_the_code_is_valid_is_paid(
    time_skipping_env: WorkflowEnvironment, stack: OrderStack
) -> None:
    # The engine's deadline (5 min) falls inside the code's life at the emulator (2 h x 0.1 = 12 min).
    policy = OrderPolicy.for_provider("kess", payment_window=timedelta(minutes=5))
    await stack.billing.create_order(kess_order("k-noclose-paid").model_copy(update={"policy": policy}))
    await time_skipping_env.sleep(timedelta(minutes=6))
    await wait_until(lambda: timeline_has(stack, "k-noclose-paid", "closing", "cannot close"))
    # KESS's clock reads the same time as the engine's: its time_end states a payment after the deadline.
    stack.hub.kess.clock.set(await time_skipping_env.get_current_time())
    await kess_control(stack, "k-noclose-paid", "pay")
    paid = await stack.check_until("k-noclose-paid", {OrderStatus.PAID})
    # Paid after the engine's deadline: flagged late, as a payment that races any close is.
    assert paid.late_payment
    assert await kess_charges(stack, "k-noclose-paid") == ["10.00"]


async def test_a_merchant_cancel_of_an_order_kess_cannot_close_is_refused(stack: OrderStack) -> None:
    await stack.billing.create_order(kess_order("k-cancel"))
    with pytest.raises(InvalidStateError, match="cannot close"):
        await stack.billing.cancel("k-cancel", "changed my mind")
    assert (await stack.billing.get_order("k-cancel")).status is OrderStatus.PENDING


async def test_a_merchant_cancel_where_kess_can_close_closes(closing_stack: OrderStack) -> None:
    await closing_stack.billing.create_order(kess_order("k-cancel-close"))
    await closing_stack.billing.cancel("k-cancel-close", "changed my mind")
    cancelled = await closing_stack.billing.wait_for_status(
        "k-cancel-close", {OrderStatus.CANCELLED}, timeout=timedelta(seconds=20)
    )
    assert "provider.cancel" in [entry.event for entry in cancelled.timeline]


async def test_a_payment_kess_takes_after_it_closed_the_code_is_found_by_the_late_payment_watch(
    time_skipping_env: WorkflowEnvironment, stack: OrderStack
) -> None:
    # KESS sends no notification, and seed 004 documents neither a close nor a code lifetime: a buyer who
    # completes a payment on a code KESS already closed (the emulator's `late` payment) is only ever learned
    # by asking. The order is EXPIRED first; the engine keeps asking on its late-payment watch.
    request = kess_order("k-late")
    assert request.policy.late_payment_watch == LATE_PAYMENT_WATCH, "on by default"
    await stack.billing.create_order(request)
    await time_skipping_env.sleep(timedelta(minutes=31))
    await kess_post(stack, "clock/advance", {"seconds": 2 * 3600 * 0.1 + 1})  # KESS closes the code itself
    await time_skipping_env.sleep(timedelta(hours=2))
    expired = await stack.billing.wait_for_status("k-late", {OrderStatus.EXPIRED}, timeout=timedelta(seconds=20))
    assert not expired.late_payment

    stack.hub.kess.clock.set(await time_skipping_env.get_current_time())
    await kess_control(stack, "k-late", "pay", {"late": True})
    assert await kess_charges(stack, "k-late") == ["10.00"]
    # The looks at 1 min, 10 min and 1 h after the close have passed (the time-skipping server ran through
    # them); the one a day after the close finds the payment.
    await time_skipping_env.sleep(timedelta(days=1))
    paid = await stack.billing.wait_for_status("k-late", {OrderStatus.PAID}, timeout=timedelta(seconds=20))
    assert paid.late_payment, "paid after KESS closed the code: late"
    assert paid.captured_amount == Money.parse("10.00", "USD")
