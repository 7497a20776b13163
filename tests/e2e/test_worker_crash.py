"""A worker killed with SIGKILL while a provider call is in flight.

After the provider committed a capture, before the activity completed: after a new worker starts, the
activity is retried with the same provider request id; the emulator's ledger shows exactly one capture and
the order ends PAID. While a wallet push waits for the payer: the dead attempt is given up within the
provider calls' heartbeat timeout, not their call limit (minutes), and reconciled by inquiry.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from billing.orders import CreateOrder, OrderPolicy, OrderStatus, provider_call_limit
from host.serving import AppServer, ChildProcess
from providers.waffo import WaffoNotifications
from starter import stackbuilder
from starter.client import BillingClient
from tests.support import stack
from tests.support.keys import merchant_keys, waffo_keys
from tests.support.stack import API_KEY, GOODS_URL, MERCHANT_ID, emulator_hub
from tests.support.workers import kill_hard, terminate_queue, wait_for_poller, worker_processes
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


#: A wallet whose payer approves 5 s after the push (50 s at the emulator's time scale of 0.1); the next
#: push is declined, so the wallet's behaviour tells when the first push reached the emulator.
SLOW_PAYER = "252611111119"


@pytest.mark.timeout(180)
async def test_a_worker_killed_during_a_wallet_push_is_replaced_within_the_heartbeat_timeout(
    dev_server_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """The push waits for the payer, and its call limit is WaafiPay's longest documented wait plus a margin
    (150 s). The worker dies while the push waits. The call's heartbeats stop with it, so Temporal gives the
    attempt up within ``PROVIDER_HEARTBEAT_TIMEOUT``, not the call limit: the next worker reconciles (a push
    is never sent again), finds the payment and the order is PAID well inside the call limit, charged once.
    (Without the status query for pushes the order goes to NEEDS_REVIEW instead, as soon.)"""
    client = dev_server_env.client
    task_queue = f"pushkill-{uuid.uuid4().hex[:8]}"
    async with (
        stack.emulator_hub() as (hub, emulator),
        stackbuilder.serve_http(client, stack.test_merchant()) as (_, http),
        httpx.AsyncClient(base_url=f"{emulator.url}/waafipay/control") as control,
    ):
        # The status query for pushes, on at both ends: the unknown push is then reconciled, not reviewed.
        hub.waafipay.config.tran_info_includes_api = True
        wallet = {"number": SLOW_PAYER, "balance": "100.00", "pin": "1212",
                  "behaviour": [{"action": "approve", "afterS": 50}, "reject"]}  # fmt: skip
        (await control.post("/wallets", json=wallet)).raise_for_status()
        first, second = worker_processes(
            client, emulator_url=emulator.url, http_url=http.url, task_queue=task_queue, count=2, log_dir=tmp_path,
            BILLING_WAAFIPAY_TRAN_INFO_FOR_PUSHES="true",
        )  # fmt: skip
        billing = BillingClient(client, task_queue=task_queue)
        order_id = f"pushkill-{uuid.uuid4().hex[:6]}"
        try:
            first.start()
            await wait_for_poller(client, task_queue)
            creating = asyncio.create_task(
                billing.create_order(
                    CreateOrder(
                        order_id=order_id,
                        provider="waafipay",
                        amount=Money.parse("7.00", "USD"),
                        customer=Customer(customer_id="cust-push", phone=SLOW_PAYER),
                        policy=OrderPolicy.for_provider("waafipay"),
                    )
                )
            )
            for _ in range(200):
                steps = (await control.get(f"/wallets/{SLOW_PAYER}")).json()["behaviour"]
                if len(steps) == 1:
                    break
                await asyncio.sleep(0.05)
            else:
                pytest.fail("the push never reached the emulator")
            kill_hard(first)
            killed = asyncio.get_running_loop().time()
            second.start()
            paid = await billing.wait_for_status(
                order_id, {OrderStatus.PAID, OrderStatus.NEEDS_REVIEW, OrderStatus.FAILED},
                timeout=provider_call_limit("waafipay") / 2,
            )  # fmt: skip
            took = asyncio.get_running_loop().time() - killed
            with contextlib.suppress(Exception):
                await asyncio.wait_for(creating, timeout=5)
            charged = [e for e in (await control.get("/ledger")).json()["entries"] if e["kind"] == "charge"]
        finally:
            first.stop()
            second.stop()
            await terminate_queue(client, task_queue)
    assert paid.status is OrderStatus.PAID, paid.timeline
    limit = provider_call_limit("waafipay").total_seconds()
    assert took < limit / 2, f"the dead worker's push was given up after {took:.0f} s (call limit {limit:.0f} s)"
    assert len(charged) == 1, charged
