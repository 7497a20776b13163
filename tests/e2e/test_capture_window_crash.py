"""A capture window that ends while the worker holding the order is dead, with the merchant's capture and a
status read arriving together on the next worker.

The shape a chaos run found: the window's timer fires while no worker runs; a query reaches the next worker,
which replays the history and applies the fired timer as a live activation stamped with the time of the
run's last task; the merchant's capture Update comes in the next task. Deciding on that stale time started a
wait that every replay then disagreed with (the run stopped replaying). The real order workflow, the real
``billing worker`` killed with SIGKILL, WaafiPay's pre-authorization at the emulator: the capture came after
the window's end, so it is refused (as it is when a worker voids on time), the hold is released at the
provider and the history replays.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from billing.errors import BillingError
from billing.gateway import CaptureMode, Customer
from billing.money import Money
from billing.orders import CreateOrder, OrderPolicy, OrderStatus, order_workflow_id
from starter import stackbuilder
from starter.chaos.replay import replay_failures
from starter.client import BillingClient
from tests.support import stack
from tests.support.workers import kill_hard, terminate_queue, wait_for_poller, worker_processes

#: The sandbox wallet (PIN 1212): the payer approves each push.
WALLET = "252611111111"
WINDOW = timedelta(seconds=6)
ACTIVITY_ENDS = (
    EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
    EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED,
)


async def test_a_capture_window_ended_while_the_worker_was_dead_decides_once_and_replays(
    dev_server_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    client = dev_server_env.client
    task_queue = f"capwin-{uuid.uuid4().hex[:8]}"
    order_id = f"capwin-{uuid.uuid4().hex[:6]}"
    handle = client.get_workflow_handle(order_workflow_id(order_id))
    async with (
        stack.emulator_hub() as (_, emulator),
        stackbuilder.serve_http(client, stack.test_merchant()) as (_, http),
        httpx.AsyncClient(base_url=f"{emulator.url}/waafipay/control") as control,
    ):
        first, second = worker_processes(
            client, emulator_url=emulator.url, http_url=http.url, task_queue=task_queue, count=2, log_dir=tmp_path
        )
        billing = BillingClient(client, task_queue=task_queue)
        try:
            first.start()
            await wait_for_poller(client, task_queue)
            order = await billing.create_order(
                CreateOrder(
                    order_id=order_id,
                    provider="waafipay",
                    amount=Money.parse("4.00", "USD"),
                    customer=Customer(customer_id="cust-capwin", phone=WALLET),
                    capture_mode=CaptureMode.MANUAL,
                    policy=OrderPolicy.for_provider("waafipay", capture_window=WINDOW),
                )
            )
            assert order.status is OrderStatus.AUTHORIZED, order.timeline
            # Quiet: the window's timer is started and every task so far is completed.
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 20
            while True:
                events = [e.event_type for e in (await handle.fetch_history()).events]
                started = EventType.EVENT_TYPE_TIMER_STARTED in events
                tasks_done = events.count(EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED) == events.count(
                    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
                )
                activities_done = events.count(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) == sum(
                    events.count(kind) for kind in ACTIVITY_ENDS
                )
                if started and tasks_done and activities_done:
                    break
                assert loop.time() < deadline, "the order never waited for its capture"
                await asyncio.sleep(0.1)
            kill_hard(first)
            assert order.authorized_at is not None
            # The window ends (its timer fires) while no worker runs.
            await asyncio.sleep(WINDOW.total_seconds() + 1)
            second.start()
            read = asyncio.create_task(billing.get_order(order_id))
            await asyncio.sleep(0.05)  # the read first: it replays the history on the cold worker
            try:
                captured: OrderStatus | str = (await billing.capture(order_id)).status
            except BillingError as exc:
                captured = f"refused: {exc}"
            with contextlib.suppress(BillingError):
                await read
            final = await billing.wait_for_status(
                order_id, {OrderStatus.PAID, OrderStatus.CANCELLED, OrderStatus.NEEDS_REVIEW},
                timeout=timedelta(seconds=60),
            )  # fmt: skip
            failures = await replay_failures(client, [handle.id])
            transactions = (await control.get("/transactions")).json()["transactions"]
        finally:
            first.stop()
            second.stop()
            await terminate_queue(client, task_queue)

    assert failures == {}, failures
    # The capture came after the window's end: refused, whatever the worker did at that end.
    assert isinstance(captured, str) and "capture window ended" in captured, captured
    assert final.status is OrderStatus.CANCELLED, final.timeline
    [held] = transactions
    assert held["kind"] == "preauth" and held["commitTransactionId"] is None, held
    assert held["holdReleaseTransactionId"] is not None, "the hold is released at the provider"
