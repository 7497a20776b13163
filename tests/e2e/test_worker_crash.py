"""A worker killed with SIGKILL after the provider committed a charge, before the activity completed.

After a new worker starts, the activity is retried with the same provider request id: the emulator's
ledger shows exactly one capture and the order ends PAID.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from billing.gateway import CaptureMode, Customer
from billing.idempotency import payment_key
from billing.money import Money
from billing.orders import CreateOrder, OrderPolicy, OrderStatus
from host.serving import AppServer, ChildProcess
from providers.waffo import WaffoNotifications
from starter.client import BillingClient
from tests.support.keys import merchant_keys, waffo_keys
from tests.support.stack import API_KEY, GOODS_URL, MERCHANT_ID, emulator_hub
from tests.support.workers import kill_hard, wait_for_poller
from webhooks.app import WebhookService, create_app


@pytest.fixture
async def webhook_url(dev_server_env: WorkflowEnvironment) -> AsyncIterator[str]:
    service = WebhookService(
        dev_server_env.client,
        {"waffo": WaffoNotifications(waffo_keys().public_b64, merchant_keys().private_b64)},
    )
    server = AppServer(create_app(service))
    await server.start()
    try:
        yield server.url
    finally:
        await server.stop()


async def test_sigkill_between_commit_and_completion_charges_once(
    dev_server_env: WorkflowEnvironment, webhook_url: str, tmp_path: Path
) -> None:
    client = dev_server_env.client
    task_queue = f"crash-{uuid.uuid4().hex[:8]}"
    async with emulator_hub() as (_, emulator):
        env = dict(
            os.environ,
            BILLING_TEMPORAL_ADDRESS=client.service_client.config.target_host,
            BILLING_TEMPORAL_TASK_QUEUE=task_queue,
            BILLING_WAFFO_BASE_URL=f"{emulator.url}/waffo/api/v1",
            BILLING_WAFFO_API_KEY=API_KEY,
            BILLING_WAFFO_MERCHANT_ID=MERCHANT_ID,
            BILLING_WAFFO_PRIVATE_KEY=merchant_keys().private_b64,
            BILLING_WAFFO_PUBLIC_KEY=waffo_keys().public_b64,
            BILLING_WAFFO_GOODS_URL=GOODS_URL,
            BILLING_HTTP_PUBLIC_URL=webhook_url,
            BILLING_WORKER_GRACE_SECONDS="0",
        )
        argv = [sys.executable, "-m", "starter.cli", "worker"]
        first = ChildProcess("worker-1", argv, log_path=tmp_path / "worker-1.log", env=env)
        second = ChildProcess("worker-2", argv, log_path=tmp_path / "worker-2.log", env=env)
        first.start()
        try:
            await wait_for_poller(client, task_queue)
            billing = BillingClient(client, task_queue=task_queue)
            order = await billing.create_order(
                CreateOrder(
                    order_id=f"crash-{uuid.uuid4().hex[:6]}",
                    provider="waffo",
                    amount=Money.parse("25.00", "USD"),
                    customer=Customer(customer_id="cust-crash", email="crash@example.com"),
                    capture_mode=CaptureMode.MANUAL,
                    policy=OrderPolicy(
                        provider_call_timeout=timedelta(seconds=4), inquiry_schedule=(timedelta(seconds=2),)
                    ),
                )
            )
            async with httpx.AsyncClient(base_url=f"{emulator.url}/waffo/control") as control:
                (await control.post(f"/orders/{payment_key(order.order_id)}/pay")).raise_for_status()
                await billing.wait_for_status(order.order_id, {OrderStatus.AUTHORIZED})
                # The emulator commits the capture, then holds the response far past the call timeout.
                fault = {"operation": "order/capture", "kind": "timeout_after_commit", "count": 1,
                         "params": {"ms": 20000}}  # fmt: skip
                (await control.post("/faults", json=fault)).raise_for_status()
                capture = asyncio.create_task(billing.capture(order.order_id))
                for _ in range(100):
                    if [e for e in (await control.get("/ledger")).json()["entries"] if e["kind"] == "capture"]:
                        break
                    await asyncio.sleep(0.1)
                else:
                    pytest.fail("the emulator never committed the capture")
                kill_hard(first)

                second.start()
                captured = await asyncio.wait_for(capture, timeout=60)
                assert captured.captures_requested == 1
                paid = await billing.wait_for_status(order.order_id, {OrderStatus.PAID}, timeout=timedelta(seconds=60))
                assert paid.captured_amount == Money.parse("25.00", "USD")
                entries = (await control.get("/ledger")).json()["entries"]
                captures = [e for e in entries if e["kind"] == "capture"]
                assert len(captures) == 1, entries
                assert not [e for e in entries if e["kind"] == "charge"]
            await client.get_workflow_handle(f"order-{order.order_id}").terminate("test finished")
        finally:
            first.stop()
            second.stop()
