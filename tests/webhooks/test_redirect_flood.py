"""Unauthenticated redirect callbacks cannot grow an order's history: hints are coalesced.

Anyone who knows an order id can call ``/callbacks/{provider}/orders/{id}/success``. A flood of them adds
a bounded number of history events, and the order still settles from the provider's real notification.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from billing.orders import OrderPolicy, OrderStatus, RedirectHint, order_workflow_id
from tests.support.stack import OrderStack, order_stack, waffo_order
from workflows.order import OrderWorkflow

FLOOD = 200
#: No scheduled inquiry while a test runs, however slow the machine: every inquiry counted is a hint's.
QUIET = OrderPolicy(payment_window=timedelta(hours=2), inquiry_schedule=(timedelta(hours=1),))


async def create(stack: OrderStack, order_id: str) -> None:
    await stack.billing.create_order(waffo_order(order_id, policy=QUIET))


@pytest.fixture
async def stack(time_skipping_env: WorkflowEnvironment) -> AsyncIterator[OrderStack]:
    async with order_stack(time_skipping_env.client) as running:
        yield running


def inquiries(events: list[HistoryEvent]) -> int:
    return sum(
        1
        for event in events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and event.activity_task_scheduled_event_attributes.activity_type.name == "payments.inquire"
    )


async def settled_history(handle: WorkflowHandle[OrderWorkflow, object], timeout: float = 20.0) -> list[HistoryEvent]:
    """The history once the workflow is idle: no workflow task or activity open, polled within a bound."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        events = list((await handle.fetch_history()).events)

        def count(*types: EventType.ValueType, events: list[HistoryEvent] = events) -> int:
            return sum(1 for event in events if event.event_type in types)

        activities_open = count(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) != count(
            EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
            EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED,
            EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
            EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED,
        )
        tasks_open = count(EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED) != count(
            EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
            EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
            EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
        )
        if not activities_open and not tasks_open:
            return events
        if loop.time() > deadline:
            raise TimeoutError(f"history still moving after {timeout} s: {len(events)} events")
        await asyncio.sleep(0.05)


async def test_a_flood_of_redirects_adds_bounded_history_and_the_order_still_gets_paid(stack: OrderStack) -> None:
    await create(stack, "flood")
    handle = stack.client.get_workflow_handle_for(OrderWorkflow.run, order_workflow_id("flood"))
    before = await settled_history(handle)
    url = "/callbacks/waffo/orders/flood/success"
    async with httpx.AsyncClient(base_url=stack.webhook_url) as http:
        burst = await asyncio.gather(*(http.get(url) for _ in range(FLOOD)))
        sequential = [await http.get(url) for _ in range(FLOOD)]
    assert {reply.status_code for reply in [*burst, *sequential]} == {200}
    after = await settled_history(handle)
    # One hint acted on: its signal, workflow tasks, the timer it interrupted, the inquiry
    # and the next timer: 17 events when measured. Without coalescing, each request costs about six.
    added = len(after) - len(before)
    assert added <= 30, f"{added} events for {2 * FLOOD} callbacks"
    assert inquiries(after) - inquiries(before) == 1

    await stack.customer("flood", "pay")
    paid = await stack.billing.wait_for_status("flood", {OrderStatus.PAID}, timeout=timedelta(seconds=20))
    assert paid.status is OrderStatus.PAID


async def test_hints_signalled_straight_to_the_workflow_make_one_inquiry_per_window(stack: OrderStack) -> None:
    """The workflow coalesces by itself too: several HTTP service instances, or an operator's check_now."""
    await create(stack, "hinted")
    handle = stack.client.get_workflow_handle_for(OrderWorkflow.run, order_workflow_id("hinted"))
    before = await settled_history(handle)
    for _ in range(15):
        await handle.signal(OrderWorkflow.redirect_hint, RedirectHint())
        await handle.signal(OrderWorkflow.check_now)
    after = await settled_history(handle)
    assert inquiries(after) - inquiries(before) == 1
    # The handlers issue no command of their own (no patch marker, no search attribute): a signal applied
    # in another order than a replay applies it then changes nothing the history records.
    added = after[len(before) :]
    assert not [e for e in added if e.event_type in (EventType.EVENT_TYPE_MARKER_RECORDED,)]
    upserts = [e for e in added if e.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES]
    assert not upserts, "a hint upserted a search attribute (TemporalChangeVersion of a patch?)"


async def test_a_new_result_token_is_news_even_inside_the_window(stack: OrderStack) -> None:
    """A provider may tell a decline only through the redirect's token: a hint that brings one is not coalesced.

    The redirects come back through WaafiPay's route, whose declaration reads ``hppResultToken``
    (``ProviderSpec.redirect_token``); the service routes a redirect by its order id alone."""
    await create(stack, "tokens")
    handle = stack.client.get_workflow_handle_for(OrderWorkflow.run, order_workflow_id("tokens"))
    before = await settled_history(handle)
    async with httpx.AsyncClient(base_url=stack.webhook_url) as http:
        await http.get("/callbacks/waafipay/orders/tokens/success")
        await settled_history(handle)
        await http.get("/callbacks/waafipay/orders/tokens/failure?hppResultToken=ABC123")
        await settled_history(handle)
        await http.get("/callbacks/waafipay/orders/tokens/failure?hppResultToken=ABC123")
    after = await settled_history(handle)
    assert inquiries(after) - inquiries(before) == 2
