"""Merchant events end to end: workflows queue them, the activity signs and POSTs them over real HTTP to a
merchant endpoint on loopback, Temporal retries until it answers 2xx; the merchant helper verifies them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from temporalio.client import WithStartWorkflowOperation, WorkflowHistory
from temporalio.common import RetryPolicy, WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

import workflows.events as workflow_events
from activities.events import ENDPOINT_REJECTED, ENDPOINT_UNREACHABLE, EventActivities, EventDelivery
from billing.events import SIGNATURE_HEADER, MerchantEvent, event_id
from billing.gateway import Customer
from billing.money import Money
from billing.orders import (
    CreateOrder,
    Order,
    OrderPolicy,
    OrderStatus,
    RefundRequest,
    SubmitOrder,
    order_workflow_id,
)
from billing.settings import MerchantEventSettings
from host.serving import AppServer, free_port
from starter.events import EventReceiver
from tests.support.stack import OrderStack, order_stack
from worker import checking_workflow_runner
from workflows.order import OrderWorkflow

SECRETS = "whsec_old,whsec_new"
POLICY = OrderPolicy(
    payment_window=timedelta(minutes=10),
    inquiry_schedule=(timedelta(seconds=30),),
    refund_window=timedelta(days=1),
    provider_call_timeout=timedelta(seconds=10),
)


@dataclass
class Endpoint:
    """The merchant's endpoint: every attempt recorded; the first ``fail`` ones answered with ``status``."""

    fail: int = 0
    status: int = 500
    retry_after: str | None = None
    attempts: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)
    events: list[MerchantEvent] = field(default_factory=list)

    def __post_init__(self) -> None:
        # The merchant verifies with the newer secret only: rotation means either one matches.
        self.receiver = EventReceiver("whsec_new", self._handle)
        self.arrived = asyncio.Event()

    async def _handle(self, event: MerchantEvent) -> None:
        self.events.append(event)
        self.arrived.set()

    async def post(self, request: Request) -> Response:
        self.attempts.append((await request.body(), dict(request.headers)))
        if self.fail > 0:
            self.fail -= 1
            headers = {"Retry-After": self.retry_after} if self.retry_after else None
            return JSONResponse({"error": "try later"}, status_code=self.status, headers=headers)
        return await self.receiver.receive(request)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/events", self.post, methods=["POST"])])

    async def until(self, done: Callable[[list[MerchantEvent]], bool], timeout: float = 15.0) -> list[MerchantEvent]:
        async with asyncio.timeout(timeout):
            while not done(self.events):
                self.arrived.clear()
                await self.arrived.wait()
        return self.events

    async def wait_for(self, count: int) -> list[MerchantEvent]:
        return await self.until(lambda events: len(events) >= count)


@pytest.fixture
async def endpoint() -> AsyncIterator[tuple[Endpoint, str]]:
    merchant = Endpoint()
    server = AppServer(merchant.app())
    await server.start()
    try:
        yield merchant, f"{server.url}/events"
    finally:
        await server.stop()


def activities(url: str | None) -> EventActivities:
    return EventActivities(MerchantEventSettings(url=url, secrets=SECRETS if url else None))


async def deliver_once(url: str | None, event: MerchantEvent) -> EventDelivery:
    """One attempt of the activity, as a worker would run it."""
    sender = activities(url)
    try:
        delivery: EventDelivery = await ActivityEnvironment().run(sender.deliver, event)
        return delivery
    finally:
        await sender.aclose()


def sample(sequence: int = 1) -> MerchantEvent:
    order = {"order_id": "o-1", "status": "PAID"}
    return MerchantEvent.model_validate(
        {
            "id": event_id("order", "o-1", sequence),
            "type": "order.paid",
            "created": "2027-01-15T12:00:00Z",
            "object": "order",
            "object_id": "o-1",
            "sequence": sequence,
            "data": order,
        }
    )


# -- the activity, against a real endpoint ------------------------------------------------------------


async def test_delivery_signs_with_every_secret_and_accepts_2xx(endpoint: tuple[Endpoint, str]) -> None:
    merchant, url = endpoint
    delivery = await deliver_once(url, sample())
    assert delivery.delivered and delivery.status_code == 200
    body, headers = merchant.attempts[0]
    assert body == sample().body()
    assert headers["billing-event-id"] == sample().id
    assert headers[SIGNATURE_HEADER.lower()].count("v1=") == 2
    assert merchant.events == [sample()]


@pytest.mark.parametrize(("status", "retry_after", "delay"), [(500, None, None), (429, "7", 7), (503, "99999", 3600)])
async def test_a_refusal_is_a_retryable_failure(
    endpoint: tuple[Endpoint, str], status: int, retry_after: str | None, delay: int | None
) -> None:
    merchant, url = endpoint
    merchant.fail, merchant.status, merchant.retry_after = 1, status, retry_after
    with pytest.raises(ApplicationError) as info:
        await deliver_once(url, sample())
    assert info.value.type == ENDPOINT_REJECTED
    assert not info.value.non_retryable
    assert str(status) in str(info.value)
    expected = timedelta(seconds=delay) if delay is not None else None
    assert info.value.next_retry_delay == expected
    assert merchant.events == []


async def test_an_unreachable_endpoint_is_a_retryable_failure() -> None:
    with pytest.raises(ApplicationError) as info:
        await deliver_once(f"http://127.0.0.1:{free_port()}/events", sample())
    assert info.value.type == ENDPOINT_UNREACHABLE
    assert not info.value.non_retryable


async def test_without_an_endpoint_nothing_is_sent() -> None:
    sender = activities(None)
    try:
        assert not await ActivityEnvironment().run(sender.enabled)
        delivery = await ActivityEnvironment().run(sender.deliver, sample())
    finally:
        await sender.aclose()
    assert not delivery.delivered and delivery.skipped is not None


# -- workflows emit them -----------------------------------------------------------------------------


def order_request(order_id: str) -> CreateOrder:
    return CreateOrder(
        order_id=order_id,
        provider="waffo",
        amount=Money.parse("25.00", "USD"),
        customer=Customer(customer_id="cust-9", email="buyer@example.com", phone="+15550100"),
        policy=POLICY,
    )


@pytest.fixture
async def stack(
    own_time_skipping_env: WorkflowEnvironment, endpoint: tuple[Endpoint, str]
) -> AsyncIterator[tuple[OrderStack, Endpoint]]:
    merchant, url = endpoint
    sender = activities(url)
    try:
        async with order_stack(own_time_skipping_env.client, events=sender, checked=True) as running:
            yield running, merchant
    finally:
        await sender.aclose()


@pytest.fixture
async def stack_sharing_workflow_events(
    own_time_skipping_env: WorkflowEnvironment, endpoint: tuple[Endpoint, str]
) -> AsyncIterator[tuple[OrderStack, Endpoint]]:
    """As ``stack``, with ``workflows.events`` passed through the checking sandbox: runs share the test's
    module, so a test can patch its constants."""
    merchant, url = endpoint
    sender = activities(url)
    try:
        runner = checking_workflow_runner(workflow_events.__name__)
        async with order_stack(own_time_skipping_env.client, events=sender, runner=runner) as running:
            yield running, merchant
    finally:
        await sender.aclose()


async def test_an_order_tells_the_merchant_every_change_in_order(stack: tuple[OrderStack, Endpoint]) -> None:
    running, merchant = stack
    await running.billing.create_order(order_request("evt-paid"))
    await running.customer("evt-paid", "pay")
    await running.billing.wait_for_status("evt-paid", {OrderStatus.PAID})
    await merchant.wait_for(2)
    await running.billing.refund("evt-paid", RefundRequest(amount=Money.parse("5.00", "USD"), refund_id="r-1"))
    await running.billing.wait_for_status("evt-paid", {OrderStatus.PARTIALLY_REFUNDED})
    events = await merchant.until(lambda events: bool(events) and events[-1].type == "order.partially_refunded")
    # A change the workflow saw but that was overtaken in the same step (the refund's provider answer
    # and its notification together) is announced as where it ended: refund.pending may not appear.
    assert [event.type for event in events if event.type != "refund.pending"] == [
        "order.pending",
        "order.paid",
        "refund.succeeded",
        "order.partially_refunded",
    ]
    count = len(events)
    assert [event.sequence for event in events] == list(range(1, count + 1))
    assert [event.id for event in events] == [event_id("order", "evt-paid", n) for n in range(1, count + 1)]
    paid = events[1].data
    assert paid["amount"] == {"amount_minor": 2500, "currency": "USD"}
    assert paid["customer_id"] == "cust-9"
    assert events[-1].data["refunded_amount"] == {"amount_minor": 500, "currency": "USD"}
    assert events[-2].data["refund_id"] == "r-1"
    for body, _ in merchant.attempts:
        assert b"buyer@example.com" not in body and b"15550100" not in body
    history = await running.client.get_workflow_handle(order_workflow_id("evt-paid")).fetch_history()
    assert not patch_markers(history), "sent because of the memo BillingClient starts the run with"
    assert local_activities(history) == 0, "the create call's result carried the deployment's answer"


async def test_a_failing_endpoint_gets_the_same_event_until_it_accepts(stack: tuple[OrderStack, Endpoint]) -> None:
    running, merchant = stack
    # Three refusals, each asking to retry after a second (the retry policy's own backoff starts at 10s).
    merchant.fail, merchant.status, merchant.retry_after = 3, 429, "1"
    await running.billing.create_order(order_request("evt-retry"))
    await merchant.wait_for(1)
    events = merchant.events
    assert len(merchant.attempts) == 4
    assert events[0].type == "order.pending"
    first_attempts = [body for body, _ in merchant.attempts[:4]]
    assert len(set(first_attempts)) == 1, "every attempt sends the same bytes"
    assert {headers["billing-event-id"] for _, headers in merchant.attempts[:4]} == {events[0].id}
    assert len(merchant.events) == 1


async def test_without_an_endpoint_orders_schedule_no_deliveries(own_time_skipping_env: WorkflowEnvironment) -> None:
    sender = activities(None)
    try:
        async with order_stack(own_time_skipping_env.client, events=sender, checked=True) as running:
            await running.billing.create_order(order_request("evt-off"))
            await running.customer("evt-off", "pay")
            await running.billing.wait_for_status("evt-off", {OrderStatus.PAID})
            history: WorkflowHistory = await running.client.get_workflow_handle(
                order_workflow_id("evt-off")
            ).fetch_history()
    finally:
        await sender.aclose()
    scheduled = [
        event.activity_task_scheduled_event_attributes.activity_type.name
        for event in history.events
        if event.HasField("activity_task_scheduled_event_attributes")
    ]
    assert "payments.create" in scheduled and "events.deliver" not in scheduled
    assert local_activities(history) == 0, "the create call's result carried the deployment's answer"
    assert not patch_markers(history), "a run started by BillingClient carries the feature in its memo"


def local_activities(history: WorkflowHistory) -> int:
    markers = [
        e.marker_recorded_event_attributes for e in history.events if e.HasField("marker_recorded_event_attributes")
    ]
    return sum(1 for m in markers if m.marker_name == "core_local_activity")


def patch_markers(history: WorkflowHistory) -> list[str]:
    """The patches a run recorded; the SDK upserts TemporalChangeVersion along with each."""
    markers = [
        e.marker_recorded_event_attributes for e in history.events if e.HasField("marker_recorded_event_attributes")
    ]
    return [m.details["patch-data"].payloads[0].data.decode() for m in markers if m.marker_name == "core_patch"]


async def test_an_order_whose_create_outcome_is_unknown_asks_with_a_local_activity(
    stack: tuple[OrderStack, Endpoint],
) -> None:
    """No create result to carry the deployment's answer: the run asks, once, with events.enabled."""
    running, merchant = stack
    await running.fault("order/create", "e0001")
    order = await running.billing.create_order(order_request("evt-unknown"))
    assert order.status is OrderStatus.UNKNOWN
    events = await merchant.wait_for(1)
    assert events[0].type == "order.unknown"
    history = await running.client.get_workflow_handle(order_workflow_id("evt-unknown")).fetch_history()
    assert local_activities(history) == 1
    assert not patch_markers(history)


async def test_a_run_started_without_the_features_memo_asks_through_the_patch(
    stack: tuple[OrderStack, Endpoint],
) -> None:
    """An order started by a client from before the memo, with no create result to answer: the patch decides."""
    running, merchant = stack
    await running.fault("order/create", "e0001")
    request = order_request("evt-old-client")
    operation = WithStartWorkflowOperation(
        OrderWorkflow.run,
        request,
        id=order_workflow_id(request.order_id),
        task_queue=running.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
    )
    await running.client.execute_update_with_start_workflow(
        OrderWorkflow.submit,
        SubmitOrder(order_id=request.order_id, fingerprint=request.fingerprint()),
        start_workflow_operation=operation,
    )
    events = await merchant.wait_for(1)
    assert events[0].type == "order.unknown"
    history = await running.client.get_workflow_handle(order_workflow_id(request.order_id)).fetch_history()
    assert any("merchant-events" in patch for patch in patch_markers(history))
    assert local_activities(history) == 1


async def test_an_event_refused_for_the_whole_window_is_given_up_and_the_next_one_goes_out(
    stack_sharing_workflow_events: tuple[OrderStack, Endpoint], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three days of refusals, shrunk to two seconds: the event is noted undeliverable, the order goes on.

    (The time-skipping server does not skip time while an activity retries, so the window and the backoff
    are shortened for this test; ``workflows.events`` is passed through the sandbox, so the patch reaches it.)
    """
    monkeypatch.setattr(workflow_events, "EVENT_DELIVERY_WINDOW", timedelta(seconds=2))
    monkeypatch.setattr(
        workflow_events,
        "EVENT_RETRY",
        RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(milliseconds=400)),
    )
    running, merchant = stack_sharing_workflow_events
    merchant.fail = 1_000_000
    await running.billing.create_order(order_request("evt-give-up"))

    async def noted() -> Order:
        while True:
            order = await running.billing.get_order("evt-give-up")
            if any("undeliverable" in entry.detail for entry in order.timeline):
                return order
            await asyncio.sleep(0.1)

    order = await asyncio.wait_for(noted(), 20)
    [note] = [entry.detail for entry in order.timeline if "undeliverable" in entry.detail]
    assert note.startswith("order.pending ") and event_id("order", "evt-give-up", 1) in note
    assert len(merchant.attempts) >= 3, "retried until the window closed"
    assert merchant.events == []

    merchant.fail = 0
    await running.customer("evt-give-up", "pay")
    [paid] = await merchant.wait_for(1)
    assert paid.type == "order.paid" and paid.sequence == 2
