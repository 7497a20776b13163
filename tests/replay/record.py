"""Record workflow histories for the replay test: ``python -m tests.replay.record [--suffix S] [NAME ...]``.

Runs representative order lifecycles through the real stack (time-skipping server, Waffo emulator,
webhook service, worker) and writes each history as JSON under ``tests/replay/histories/``. Merchant
events are on, delivered to a receiver on loopback. ``NAME`` picks scenarios (default: all); ``--suffix``
writes ``<name><suffix>.json`` so histories recorded before a versioned change stay beside the new ones.
Commit the files: the replay test then fails on any change to the workflow code that is not
deterministic against histories already in production. Re-record only for a deliberate, versioned change.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import httpx
from temporalio.testing import WorkflowEnvironment

from billing.gateway import BillingInterval, CaptureMode, Customer, SubscriptionPlan
from billing.idempotency import subscription_key
from billing.money import Money
from billing.orders import (
    CreateOrder,
    OrderStatus,
    RefundRequest,
    ResolveRequest,
    order_workflow_id,
)
from billing.subscriptions import BillingMode, StartSubscription, subscription_workflow_id
from starter.binaries import temporal_test_server
from tests.support.stack import TEST_ORDER_POLICY, OrderStack, order_stack

HISTORIES = Path(__file__).parent / "histories"
POLICY = TEST_ORDER_POLICY


def request(order_id: str, **overrides: object) -> CreateOrder:
    fields: dict[str, object] = {
        "order_id": order_id,
        "provider": "waffo",
        "amount": Money.parse("10.00", "USD"),
        "customer": Customer(customer_id="cust-replay", email="replay@example.com"),
        "policy": POLICY,
    }
    fields.update(overrides)
    return CreateOrder.model_validate(fields)


async def paid_and_refunded(env: WorkflowEnvironment, stack: OrderStack) -> str:
    await stack.billing.create_order(request("replay-paid"))
    await stack.customer("replay-paid", "pay")
    await stack.billing.wait_for_status("replay-paid", {OrderStatus.PAID})
    await stack.billing.refund("replay-paid", RefundRequest(refund_id="r1", amount=Money.parse("4.00", "USD")))
    await stack.billing.wait_for_status("replay-paid", {OrderStatus.PARTIALLY_REFUNDED})
    return "replay-paid"


async def _create_faulted_then_paid(env: WorkflowEnvironment, stack: OrderStack, order_id: str, fault: str) -> str:
    """The create is answered with ``fault``; the first inquiry finds the order PENDING, then it is paid."""
    await stack.fault("order/create", fault)
    await stack.billing.create_order(request(order_id))
    await env.sleep(timedelta(seconds=35))
    await stack.billing.wait_for_status(order_id, {OrderStatus.PENDING})
    await stack.customer(order_id, "pay")
    await stack.billing.wait_for_status(order_id, {OrderStatus.PAID})
    return order_id


async def unknown_then_reconciled(env: WorkflowEnvironment, stack: OrderStack) -> str:
    return await _create_faulted_then_paid(env, stack, "replay-e0001", "e0001")


async def partial_capture(env: WorkflowEnvironment, stack: OrderStack) -> str:
    await stack.billing.create_order(request("replay-capture", capture_mode=CaptureMode.MANUAL))
    await stack.customer("replay-capture", "pay")
    await env.sleep(timedelta(seconds=35))
    await stack.billing.wait_for_status("replay-capture", {OrderStatus.AUTHORIZED})
    await stack.billing.capture("replay-capture", Money.parse("6.00", "USD"))
    await stack.billing.wait_for_status("replay-capture", {OrderStatus.PAID})
    return "replay-capture"


async def expired(env: WorkflowEnvironment, stack: OrderStack) -> str:
    await stack.billing.create_order(request("replay-expired"))
    await env.sleep(timedelta(minutes=11))
    await stack.billing.wait_for_status("replay-expired", {OrderStatus.EXPIRED})
    return "replay-expired"


async def create_not_found_resent(env: WorkflowEnvironment, stack: OrderStack) -> str:
    return await _create_faulted_then_paid(env, stack, "replay-resent", "http_500")


async def kess_expired_without_close(env: WorkflowEnvironment, stack: OrderStack) -> str:
    """KESS has no close (seed 004): past the deadline the order waits out the QR's lifetime, then expires."""
    await stack.billing.create_order(
        request("replay-kess-noclose", provider="kess", customer=Customer(customer_id="c"))
    )
    await env.sleep(timedelta(minutes=11))
    control = f"{stack.emulator_url}/kess/control/clock/advance"
    (await stack.control.post(control, json={"seconds": 2 * 3600 * 0.1 + 1})).raise_for_status()
    await env.sleep(timedelta(hours=2))
    await stack.billing.wait_for_status("replay-kess-noclose", {OrderStatus.EXPIRED})
    return "replay-kess-noclose"


async def review_resolved(env: WorkflowEnvironment, stack: OrderStack) -> str:
    await stack.fault("*", "e0001", count=1000)
    await stack.fault("notify", "drop", count=1000)
    await stack.billing.create_order(request("replay-review"))
    await env.sleep(timedelta(minutes=20))
    await stack.billing.wait_for_status("replay-review", {OrderStatus.NEEDS_REVIEW})
    await stack.billing.resolve(
        "replay-review", ResolveRequest(operator="ops", reason="checked in portal", status=OrderStatus.FAILED)
    )
    return "replay-review"


async def cancelled(env: WorkflowEnvironment, stack: OrderStack) -> str:
    await stack.billing.create_order(request("replay-cancel"))
    await stack.billing.cancel("replay-cancel", reason="customer asked")
    return "replay-cancel"


async def capture_in_doubt_then_paid(env: WorkflowEnvironment, stack: OrderStack) -> str:
    """The capture's answer is lost (HTTP 500): inquired, re-sent with the same request id, paid."""
    await stack.billing.create_order(request("replay-cap-doubt", capture_mode=CaptureMode.MANUAL))
    await stack.customer("replay-cap-doubt", "pay")
    await env.sleep(timedelta(seconds=35))
    await stack.billing.wait_for_status("replay-cap-doubt", {OrderStatus.AUTHORIZED})
    await stack.fault("order/capture", "http_500")
    await stack.billing.capture("replay-cap-doubt")
    await env.sleep(timedelta(minutes=5))
    await stack.billing.wait_for_status("replay-cap-doubt", {OrderStatus.PAID})
    return "replay-cap-doubt"


async def authorized_at_deadline_then_voided(env: WorkflowEnvironment, stack: OrderStack) -> str:
    """Found authorized by the inquiry before closing at the deadline; the void at the end of the capture
    window is answered HTTP 500, re-sent, and releases the hold."""
    policy = POLICY.model_copy(update={"inquiry_schedule": (timedelta(hours=1),), "capture_window": timedelta(days=1)})
    await stack.billing.create_order(request("replay-auth-void", capture_mode=CaptureMode.MANUAL, policy=policy))
    await stack.customer("replay-auth-void", "pay")
    await env.sleep(timedelta(minutes=11))
    await stack.billing.wait_for_status("replay-auth-void", {OrderStatus.AUTHORIZED})
    await stack.fault("order/cancel", "http_500")
    await env.sleep(timedelta(days=1, hours=2))  # the re-send waits one inquiry interval (an hour here)
    await stack.billing.wait_for_status("replay-auth-void", {OrderStatus.CANCELLED})
    return "replay-auth-void"


async def refund_resent_after_not_found(env: WorkflowEnvironment, stack: OrderStack) -> str:
    await stack.billing.create_order(request("replay-refund-resend"))
    await stack.customer("replay-refund-resend", "pay")
    await stack.billing.wait_for_status("replay-refund-resend", {OrderStatus.PAID})
    await stack.fault("order/refund", "http_500")  # nothing handled: the refund inquiry answers A0009
    await stack.billing.refund("replay-refund-resend", RefundRequest(refund_id="r1", amount=Money.parse("3.00", "USD")))
    await env.sleep(timedelta(minutes=2))
    await stack.billing.wait_for_status("replay-refund-resend", {OrderStatus.PARTIALLY_REFUNDED})
    return "replay-refund-resend"


async def refund_settled_before_its_call_ended(env: WorkflowEnvironment, stack: OrderStack) -> str:
    await stack.billing.create_order(request("replay-refund-race"))
    await stack.customer("replay-refund-race", "pay")
    await stack.billing.wait_for_status("replay-refund-race", {OrderStatus.PAID})
    # Committed and notified at once, answered after the client's 5 s read timeout.
    await stack.fault("order/refund", "timeout_after_commit", ms=7000)
    await stack.billing.refund("replay-refund-race", RefundRequest(refund_id="r1", amount=Money.parse("4.00", "USD")))
    await stack.billing.wait_for_status("replay-refund-race", {OrderStatus.PARTIALLY_REFUNDED})
    return "replay-refund-race"


async def redirect_hints(env: WorkflowEnvironment, stack: OrderStack) -> str:
    """Browser redirects and check_now while the order waits: coalesced since "coalesce-hints"."""
    from billing.orders import RedirectHint
    from workflows.order import OrderWorkflow

    await stack.billing.create_order(request("replay-hints"))
    async with httpx.AsyncClient(base_url=stack.webhook_url) as http:
        for _ in range(3):
            await http.get("/callbacks/waffo/orders/replay-hints/success")
    handle = stack.client.get_workflow_handle(order_workflow_id("replay-hints"))
    for _ in range(3):
        await handle.signal(OrderWorkflow.redirect_hint, RedirectHint())
        await handle.signal(OrderWorkflow.check_now)
    await stack.customer("replay-hints", "pay")
    await stack.billing.wait_for_status("replay-hints", {OrderStatus.PAID})
    return "replay-hints"


def subscription(subscription_id: str, amount: str = "9.99", plan_id: str = "basic") -> StartSubscription:
    return StartSubscription(
        subscription_id=subscription_id,
        provider="waffo",
        plan=SubscriptionPlan(
            plan_id=plan_id,
            description=f"Plan {plan_id}",
            amount=Money.parse(amount, "USD"),
            interval=BillingInterval.MONTH,
        ),
        customer=Customer(customer_id="cust-replay", email="replay@example.com"),
    )


async def _sub_control(stack: OrderStack, key: str, action: str, body: dict[str, object] | None = None) -> None:
    (await stack.control.post(f"/subscriptions/{key}/{action}", json=body or {})).raise_for_status()
    await stack.hub.waffo.drain_notifications(timeout_s=10)


async def subscription_renewals_and_cancel(env: WorkflowEnvironment, stack: OrderStack) -> str:
    await stack.billing.create_subscription(subscription("replay-sub"))
    key = subscription_key("replay-sub")
    await _sub_control(stack, key, "pay")
    await _sub_control(stack, key, "renew", {"succeed": True})
    await _sub_control(stack, key, "renew", {"succeed": False})
    await _sub_control(stack, key, "renew", {"succeed": True})
    await stack.billing.wait_for_subscription("replay-sub", lambda s: s.current_period == 3)
    await stack.billing.cancel_subscription("replay-sub", at_period_end=True)
    await stack.billing.resume_subscription("replay-sub")
    await stack.billing.cancel_subscription("replay-sub")
    return "replay-sub"


async def subscription_plan_change(env: WorkflowEnvironment, stack: OrderStack) -> str:
    await stack.billing.create_subscription(subscription("replay-change"))
    await _sub_control(stack, subscription_key("replay-change"), "pay")
    await stack.billing.wait_for_subscription("replay-change", lambda s: s.current_period == 1)
    pro = SubscriptionPlan(
        plan_id="pro", description="Plan pro", amount=Money.parse("19.99", "USD"), interval=BillingInterval.MONTH
    )
    await stack.billing.change_plan("replay-change", pro)
    await _sub_control(stack, subscription_key("replay-change", 2), "pay")
    await stack.billing.wait_for_subscription("replay-change", lambda s: s.plan.plan_id == "pro")
    return "replay-change"


async def subscription_engine_invoices(env: WorkflowEnvironment, stack: OrderStack) -> str:
    """An engine-charged WaafiPay subscription: period 1, an upgrade mid-period, period 2: three invoices."""
    wallet = "252611111140"
    wallets = f"{stack.emulator_url}/waafipay/control/wallets"
    body = {"number": wallet, "balance": "500.00", "pin": "1212", "behaviour": ["approve", "approve", "approve"]}
    (await stack.control.post(wallets, json=body)).raise_for_status()

    def priced(plan_id: str, amount: str) -> SubscriptionPlan:
        return SubscriptionPlan(
            plan_id=plan_id,
            description=plan_id.title(),
            amount=Money.parse(amount, "USD"),
            interval=BillingInterval.MONTH,
        )

    request = StartSubscription(
        subscription_id="replay-inv",
        provider="waafipay",
        plan=priced("basic", "30.00"),
        customer=Customer(customer_id="c-inv", phone=wallet),
    )
    created = await stack.billing.create_subscription(request)
    assert created.calendar is not None
    await stack.billing.wait_for_subscription("replay-inv", lambda s: len(s.invoices) == 1 and s.current_period == 1)
    await env.sleep(timedelta(days=10))
    await stack.billing.change_plan("replay-inv", priced("pro", "60.00"))
    await stack.billing.wait_for_subscription("replay-inv", lambda s: s.adjustments[0].status.value == "PAID")
    now = await env.get_current_time()
    await env.sleep(created.calendar.period_start(2) - now + timedelta(seconds=1))
    await stack.billing.wait_for_subscription(
        "replay-inv", lambda s: s.current_period == 2 and s.invoices[-1].state.value == "paid"
    )
    return "replay-inv"


async def _period_refunded(env: WorkflowEnvironment, stack: OrderStack, subscription_id: str) -> str:
    """An engine-invoiced Waffo subscription's period 1 paid, then refunded in part (a credit note)."""
    plan = SubscriptionPlan(
        plan_id="basic", description="Basic", amount=Money.parse("30.00", "USD"), interval=BillingInterval.MONTH
    )
    request = StartSubscription(
        subscription_id=subscription_id,
        provider="waffo",
        billing_mode=BillingMode.ENGINE_INVOICED,
        plan=plan,
        customer=Customer(customer_id="cust-replay", email="replay@example.com"),
    )
    await stack.billing.create_subscription(request)
    sub = await stack.billing.wait_for_subscription(
        subscription_id, lambda s: bool(s.periods and s.periods[0].checkout_url)
    )
    order_id = sub.periods[0].order_id
    assert order_id is not None
    await stack.customer(order_id, "pay")
    await stack.billing.wait_for_subscription(subscription_id, lambda s: s.current_period == 1)
    await stack.billing.refund(order_id, RefundRequest(refund_id="r1", amount=Money.parse("10.00", "USD")))
    await stack.billing.wait_for_status(order_id, {OrderStatus.PARTIALLY_REFUNDED})
    await asyncio.sleep(1)  # the report (since credit notes) reaches the subscription
    return order_id


async def invoice_order_refunded(env: WorkflowEnvironment, stack: OrderStack) -> str:
    """The invoice order's history: it reports the refund to its subscription (patch report-refunds-to-issuer)."""
    return await _period_refunded(env, stack, "replay-cn-order")


async def subscription_credit_note(env: WorkflowEnvironment, stack: OrderStack) -> str:
    """The subscription's history: the refund of its period 1 order gives credit note CN-000001."""
    await _period_refunded(env, stack, "replay-cn")
    await stack.billing.wait_for_subscription("replay-cn", lambda s: len(s.credit_notes) == 1)
    return "replay-cn"


async def subscription_engine_downgrade(env: WorkflowEnvironment, stack: OrderStack) -> str:
    """An engine-charged WaafiPay subscription: period 1, a downgrade mid-period whose credit covers period 2
    (recorded before the customer balance: the credit on the subscription; after: on the customer's balance)."""
    wallet = "252611111141"
    wallets = f"{stack.emulator_url}/waafipay/control/wallets"
    body = {"number": wallet, "balance": "500.00", "pin": "1212", "behaviour": ["approve", "approve", "approve"]}
    (await stack.control.post(wallets, json=body)).raise_for_status()

    def priced(plan_id: str, amount: str) -> SubscriptionPlan:
        return SubscriptionPlan(
            plan_id=plan_id,
            description=plan_id.title(),
            amount=Money.parse(amount, "USD"),
            interval=BillingInterval.MONTH,
        )

    request = StartSubscription(
        subscription_id="replay-dwn",
        provider="waafipay",
        plan=priced("basic", "30.00"),
        customer=Customer(customer_id="c-dwn", phone=wallet),
    )
    created = await stack.billing.create_subscription(request)
    assert created.calendar is not None
    await stack.billing.wait_for_subscription("replay-dwn", lambda s: len(s.invoices) == 1 and s.current_period == 1)
    await env.sleep(timedelta(days=10))
    await stack.billing.change_plan("replay-dwn", priced("lite", "10.00"))
    now = await env.get_current_time()
    await env.sleep(created.calendar.period_start(2) - now + timedelta(seconds=1))
    await stack.billing.wait_for_subscription(
        "replay-dwn", lambda s: s.current_period == 2 and s.invoices[-1].state.value == "paid"
    )
    return "replay-dwn"


async def subscription_engine_coupon(env: WorkflowEnvironment, stack: OrderStack) -> str:
    """An engine-charged WaafiPay subscription created with a coupon (20 % off, repeating 2 periods): period 1
    discounted, an upgrade mid-period prorated on discounted prices, period 2 discounted, period 3 not."""
    from billing.coupons import Coupon, CouponDuration

    wallet = "252611111142"
    wallets = f"{stack.emulator_url}/waafipay/control/wallets"
    body = {"number": wallet, "balance": "500.00", "pin": "1212", "behaviour": ["approve"] * 4}
    (await stack.control.post(wallets, json=body)).raise_for_status()
    await stack.billing.create_coupon(
        Coupon(code="REPLAY20", percent_off_bp=2000, duration=CouponDuration.REPEATING, periods=2)
    )

    def priced(plan_id: str, amount: str) -> SubscriptionPlan:
        return SubscriptionPlan(
            plan_id=plan_id,
            description=plan_id.title(),
            amount=Money.parse(amount, "USD"),
            interval=BillingInterval.MONTH,
        )

    request = StartSubscription(
        subscription_id="replay-cpn",
        provider="waafipay",
        plan=priced("basic", "30.00"),
        customer=Customer(customer_id="c-cpn", phone=wallet),
        coupon="REPLAY20",
    )
    created = await stack.billing.create_subscription(request)
    assert created.calendar is not None and created.coupon is not None
    await stack.billing.wait_for_subscription("replay-cpn", lambda s: len(s.invoices) == 1 and s.current_period == 1)
    await env.sleep(timedelta(days=10))
    await stack.billing.change_plan("replay-cpn", priced("pro", "60.00"))
    await stack.billing.wait_for_subscription("replay-cpn", lambda s: s.adjustments[0].status.value == "PAID")
    for number in (2, 3):
        now = await env.get_current_time()
        await env.sleep(created.calendar.period_start(number) - now + timedelta(seconds=1))
        await stack.billing.wait_for_subscription(
            "replay-cpn", lambda s, n=number: s.current_period == n and s.invoices[-1].state.value == "paid"
        )
    sub = await stack.billing.get_subscription("replay-cpn")
    assert [i.discount for i in sub.invoices] == [600, 0, 1200, 0]
    return "replay-cpn"


SUBSCRIPTION_SCENARIOS = [
    subscription_renewals_and_cancel,
    subscription_plan_change,
    subscription_engine_invoices,
    subscription_engine_downgrade,
    subscription_engine_coupon,
    subscription_credit_note,
]

SCENARIOS: list[Callable[[WorkflowEnvironment, OrderStack], Awaitable[str]]] = [
    paid_and_refunded,
    unknown_then_reconciled,
    partial_capture,
    expired,
    kess_expired_without_close,
    review_resolved,
    cancelled,
    capture_in_doubt_then_paid,
    authorized_at_deadline_then_voided,
    refund_resent_after_not_found,
    refund_settled_before_its_call_ended,
    redirect_hints,
    create_not_found_resent,
    invoice_order_refunded,
]


async def main(names: list[str], suffix: str) -> None:
    from activities.events import EventActivities
    from billing.settings import MerchantEventSettings
    from billing.temporal import data_converter
    from host.serving import AppServer
    from starter.events import EventReceiver, MerchantEvent
    from tests.conftest import register_search_attributes

    async def received(event: MerchantEvent) -> None:
        return None

    receiver = AppServer(EventReceiver("whsec_replay", received).app())
    await receiver.start()
    events = EventActivities(MerchantEventSettings(url=receiver.url, secrets="whsec_replay"))
    HISTORIES.mkdir(parents=True, exist_ok=True)
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(temporal_test_server()), data_converter=data_converter()
    )
    await register_search_attributes(env)
    try:
        for scenario in [*SCENARIOS, *SUBSCRIPTION_SCENARIOS]:
            if names and scenario.__name__ not in names:
                continue
            # The histories production's runner writes (the replay suite replays them in the checking one).
            async with order_stack(env.client, events=events, checked=False) as stack:
                subject = await scenario(env, stack)
                is_subscription = scenario in SUBSCRIPTION_SCENARIOS
                workflow_id = subscription_workflow_id(subject) if is_subscription else order_workflow_id(subject)
                await asyncio.sleep(1)  # let the last merchant events go out
                history = await env.client.get_workflow_handle(workflow_id).fetch_history()
                path = HISTORIES / f"{'' if is_subscription else 'order_'}{scenario.__name__}{suffix}.json"
                path.write_text(history.to_json())
                print(f"recorded {path.name}: {len(history.events)} events")
    finally:
        await env.shutdown()
        await events.aclose()
        await receiver.stop()


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="scenarios to record (default: all)")
    parser.add_argument("--suffix", default="", help="appended to each file name")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.names, arguments.suffix))
