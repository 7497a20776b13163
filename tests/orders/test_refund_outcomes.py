"""Refunds whose provider call ends inconclusively: the refund state and the merchant's refund events never
go backwards, unknown refunds are re-sent with their own key when the provider deduplicates it, and a
refund that was never sent is never UNKNOWN. Real emulators over HTTP, real worker, time-skipping server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.events import EventActivities
from billing.events import MerchantEvent
from billing.gateway import Customer
from billing.idempotency import payment_key, refund_key
from billing.money import Money
from billing.orders import CreateOrder, OrderStatus, RefundRequest, RefundState
from billing.settings import MerchantEventSettings
from host.serving import AppServer
from starter.events import EventReceiver
from tests.support.stack import TEST_ORDER_POLICY, OrderStack, order_stack

SECRET = "whsec_refunds"


def usd(text: str) -> Money:
    return Money.parse(text, "USD")


class Merchant:
    """The merchant's event endpoint on loopback: every verified event, in arrival order."""

    def __init__(self) -> None:
        self.events: list[MerchantEvent] = []
        self.arrived = asyncio.Event()
        self.receiver = EventReceiver(SECRET, self._handle)

    async def _handle(self, event: MerchantEvent) -> None:
        self.events.append(event)
        self.arrived.set()

    async def until(self, done: Callable[[list[MerchantEvent]], bool], timeout: float = 20.0) -> list[MerchantEvent]:
        async with asyncio.timeout(timeout):
            while not done(self.events):
                self.arrived.clear()
                await self.arrived.wait()
        return self.events

    def types(self, prefix: str = "") -> list[str]:
        return [event.type for event in self.events if event.type.startswith(prefix)]


@pytest.fixture
async def merchant() -> AsyncIterator[tuple[Merchant, EventActivities]]:
    endpoint = Merchant()
    server = AppServer(endpoint.receiver.app("/events"))
    await server.start()
    sender = EventActivities(MerchantEventSettings(url=f"{server.url}/events", secrets=SECRET))
    try:
        yield endpoint, sender
    finally:
        await sender.aclose()
        await server.stop()


def refund_events(events: list[MerchantEvent], refund_id: str) -> list[str]:
    return [e.type for e in events if e.type.startswith("refund.") and e.data.get("refund_id") == refund_id]


def waffo_order(order_id: str) -> CreateOrder:
    return CreateOrder(
        order_id=order_id,
        provider="waffo",
        amount=usd("10.00"),
        customer=Customer(customer_id="cust-r", email="buyer@example.com"),
        description="Refund test order",
        policy=TEST_ORDER_POLICY,
    )


async def test_refund_confirmed_by_notification_stays_succeeded_when_its_call_times_out(
    own_time_skipping_env: WorkflowEnvironment, merchant: tuple[Merchant, EventActivities]
) -> None:
    endpoint, sender = merchant
    async with order_stack(own_time_skipping_env.client, read_timeout=1.0, events=sender) as stack:
        await stack.billing.create_order(waffo_order("rf-mono"))
        await stack.customer("rf-mono", "pay")
        await stack.billing.wait_for_status("rf-mono", {OrderStatus.PAID})
        await endpoint.until(lambda events: "order.paid" in [e.type for e in events])

        # Waffo commits the refund and notifies at once, but its answer to the call comes too late: the
        # notification says SUCCEEDED before the call ends inconclusively.
        await stack.fault("order/refund", "timeout_after_commit", ms=3000)
        refund = await stack.billing.refund("rf-mono", RefundRequest(refund_id="m1", amount=usd("4.00")))

        assert refund.status is RefundState.SUCCEEDED, "an inconclusive answer never undoes a final statement"
        # The next change the order announces (here another refund) must not carry m1 backwards.
        await stack.billing.refund("rf-mono", RefundRequest(refund_id="m2", amount=usd("1.00")))
        order = await stack.billing.wait_for_status("rf-mono", {OrderStatus.PARTIALLY_REFUNDED})
        assert order.refunds[0].status is RefundState.SUCCEEDED
        ledger = await stack.ledger("refund")
        assert sorted(entry["amount"] for entry in ledger) == ["1.00", "4.00"], "m1 refunded once"
        # Whatever the workflow does next (inquiries, the refund window), nothing goes back.
        await own_time_skipping_env.sleep(timedelta(minutes=5))
        order = await stack.billing.get_order("rf-mono")
        assert order.refunds[0].status is RefundState.SUCCEEDED
        assert order.refunded == usd("5.00")
        await endpoint.until(lambda events: len(refund_events(events, "m2")) >= 1)
        assert [t for t in refund_events(endpoint.events, "m1") if t != "refund.pending"] == ["refund.succeeded"]
        sequences = [event.sequence for event in endpoint.events]
        assert sequences == sorted(sequences)


def kess_order(order_id: str) -> CreateOrder:
    return CreateOrder(
        order_id=order_id,
        provider="kess",
        amount=usd("20.00"),
        customer=Customer(customer_id="cust-k"),
        description="QR order",
        policy=TEST_ORDER_POLICY,
    )


async def kess_post(stack: OrderStack, path: str, body: dict[str, object] | None = None) -> dict[str, object]:
    response = await stack.control.post(f"{stack.emulator_url}/kess/control/{path}", json=body or {})
    response.raise_for_status()
    result: dict[str, object] = response.json()
    return result


async def kess_fault(stack: OrderStack, operation: str, kind: str, count: int = 1, **params: object) -> None:
    await kess_post(stack, "faults", {"operation": operation, "kind": kind, "count": count, "params": params})


async def kess_ledger(stack: OrderStack, kind: str) -> list[dict[str, object]]:
    response = await stack.control.get(f"{stack.emulator_url}/kess/control/ledger")
    response.raise_for_status()
    return [entry for entry in response.json()["entries"] if entry["kind"] == kind]


async def paid_kess_order(stack: OrderStack, order_id: str) -> None:
    await stack.billing.create_order(kess_order(order_id))
    await kess_post(stack, f"orders/{payment_key(order_id)}/pay")
    await stack.billing.check_now(order_id)
    await stack.billing.wait_for_status(order_id, {OrderStatus.PAID}, timeout=timedelta(seconds=20))


async def kess_refund_view(stack: OrderStack, order_id: str, refund_id: str) -> int:
    response = await stack.control.get(f"{stack.emulator_url}/kess/control/refunds/{refund_key(order_id, refund_id)}")
    return response.status_code


@pytest.fixture
async def stack(time_skipping_env: WorkflowEnvironment) -> AsyncIterator[OrderStack]:
    async with order_stack(time_skipping_env.client, env=time_skipping_env) as running:
        yield running


async def test_kess_refund_not_found_after_a_lost_answer_is_sent_again_with_its_key(
    time_skipping_env: WorkflowEnvironment, stack: OrderStack
) -> None:
    await paid_kess_order(stack, "rf-k-resend")
    # A gateway in front of KESS fails the refund call: nothing handled, the answer says nothing.
    await kess_fault(stack, "refund", "http_500")
    refund = await stack.billing.refund("rf-k-resend", RefundRequest(refund_id="k1", amount=usd("5.00")))
    assert refund.status is RefundState.UNKNOWN
    assert await kess_refund_view(stack, "rf-k-resend", "k1") == 404

    # The inquiry answers REFUNDNOTEXIST: the call did not land, so it is sent again with the same key.
    await time_skipping_env.sleep(timedelta(minutes=2))
    order = await stack.billing.wait_for_status("rf-k-resend", {OrderStatus.PARTIALLY_REFUNDED})
    assert order.refunds[0].status is RefundState.SUCCEEDED
    assert order.refunds[0].sends == 2
    assert "refund_resend" in [entry.event for entry in order.timeline]
    ledger = await kess_ledger(stack, "refund")
    assert [(entry["out_refund_no"], entry["amount"]) for entry in ledger] == [
        (refund_key("rf-k-resend", "k1"), "5.00")
    ], "refunded once, with the refund's own key"
    assert order.refundable == usd("15.00")


async def test_kess_refund_never_found_goes_to_review_with_the_reason(
    time_skipping_env: WorkflowEnvironment, stack: OrderStack
) -> None:
    await paid_kess_order(stack, "rf-k-review")
    await kess_fault(stack, "refund", "http_500", count=10)
    await stack.billing.refund("rf-k-review", RefundRequest(refund_id="k2", amount=usd("5.00")))
    for _ in range(6):
        await time_skipping_env.sleep(timedelta(minutes=2))
    order = await stack.billing.get_order("rf-k-review")
    refund = order.refunds[0]
    assert refund.status is RefundState.NEEDS_REVIEW
    assert refund.sends == 3, "the first call and two re-sends, no more"
    assert refund.review_reason is not None and "REFUNDNOTEXIST" in refund.review_reason
    assert await kess_ledger(stack, "refund") == []


async def test_kess_refund_whose_payment_check_fails_is_not_sent_and_fails_cleanly(stack: OrderStack) -> None:
    await paid_kess_order(stack, "rf-k-precheck")
    # The payment status read before the refund fails every attempt: the refund request is never sent.
    await kess_fault(stack, "payment_status", "http_500", count=3)
    refund = await stack.billing.refund("rf-k-precheck", RefundRequest(refund_id="k3", amount=usd("5.00")))
    assert refund.status is RefundState.FAILED, "nothing was sent: not UNKNOWN"
    order = await stack.billing.get_order("rf-k-precheck")
    assert order.status is OrderStatus.PAID
    assert order.refundable == usd("20.00"), "the reservation is released"
    assert await kess_refund_view(stack, "rf-k-precheck", "k3") == 404
    assert await kess_ledger(stack, "refund") == []


async def test_kess_refund_whose_payment_check_fails_once_is_retried(stack: OrderStack) -> None:
    await paid_kess_order(stack, "rf-k-precheck1")
    await kess_fault(stack, "payment_status", "http_500")
    refund = await stack.billing.refund("rf-k-precheck1", RefundRequest(refund_id="k4", amount=usd("5.00")))
    assert refund.status is RefundState.SUCCEEDED
    assert len(await kess_ledger(stack, "refund")) == 1


async def test_waffo_refund_unknown_to_waffo_a0009_is_sent_again_with_its_key(
    time_skipping_env: WorkflowEnvironment, stack: OrderStack
) -> None:
    await stack.billing.create_order(waffo_order("rf-w-resend"))
    await stack.customer("rf-w-resend", "pay")
    await stack.billing.wait_for_status("rf-w-resend", {OrderStatus.PAID})
    # A gateway in front of Waffo fails the refund call: nothing handled; the refund inquiry answers A0009.
    await stack.fault("order/refund", "http_500")
    refund = await stack.billing.refund("rf-w-resend", RefundRequest(refund_id="w1", amount=usd("3.00")))
    assert refund.status is RefundState.UNKNOWN
    await time_skipping_env.sleep(timedelta(minutes=2))
    order = await stack.billing.wait_for_status("rf-w-resend", {OrderStatus.PARTIALLY_REFUNDED})
    assert order.refunds[0].status is RefundState.SUCCEEDED
    assert order.refunds[0].sends == 2
    assert any("A0009" in entry.detail for entry in order.timeline)
    assert [entry["amount"] for entry in await stack.ledger("refund")] == ["3.00"], "refunded once"
