"""The order stack for tests: Waffo emulator and webhook service on loopback, a worker on a fresh queue.

Everything is real: HTTP between our client and the emulator, RSA signatures both ways, notifications
delivered by the emulator to our HTTP service, signals into Temporal.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from pydantic import SecretStr
from temporalio import activity
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import WorkflowExecutionStatus as RawStatus
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
    WorkflowRunner,
)

from activities.events import EventActivities
from billing.balance import balance_workflow_id
from billing.gateway import Customer
from billing.idempotency import payment_key
from billing.invoices import CREDIT_NOTE_SERIES, INVOICE_SERIES, sequence_workflow_id
from billing.money import Money
from billing.orders import CreateOrder, Order, OrderPolicy, OrderStatus, order_workflow_id
from billing.subscriptions import StartSubscription, Subscription, subscription_workflow_id
from emulators.hub import EmulatorHub
from emulators.kess.local import KessAccount
from emulators.waafipay.local import WaafiPayAccount
from emulators.waffo.local import WaffoAccount
from host.serving import AppServer
from providers.kess import KessClient, KessSettings
from providers.waafipay import WaafiPayClient, WaafiPaySettings
from providers.waffo import WaffoClient
from starter import stackbuilder
from starter.client import BillingClient
from starter.stackbuilder import LocalMerchant
from tests.support.keys import merchant_keys, waffo_keys
from webhooks.app import WebhookService
from worker import WorkerSettings, checking_workflow_runner


class SeenWorkflows(Interceptor):
    """Every workflow that ran an activity on this worker, however it was started (a client, a subscription,
    the HTTP service, a test's own start)."""

    def __init__(self) -> None:
        self.ids: set[str] = set()

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _RecordWorkflow(next, self.ids)


class _RecordWorkflow(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, ids: set[str]) -> None:
        super().__init__(next)
        self.ids = ids

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        workflow_id = activity.info().workflow_id
        if workflow_id:
            self.ids.add(workflow_id)
        return await super().execute_activity(input)


async def allocations_done(client: Client, workflow_id: str, within: float = 10.0) -> None:
    """Wait (bounded) until the workflow has no invoice number allocation or confirmation in flight. The
    time-skipping server can keep an activity that was running when its workflow was terminated, and its
    clock then stays locked for every test after; these calls to the sequence workflow end in moments."""
    request = DescribeWorkflowExecutionRequest(
        namespace=client.namespace, execution=WorkflowExecution(workflow_id=workflow_id)
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        description = await client.workflow_service.describe_workflow_execution(request)
        if description.workflow_execution_info.status != RawStatus.WORKFLOW_EXECUTION_STATUS_RUNNING or not any(
            a.activity_type.name.startswith("invoices.") for a in description.pending_activities
        ):
            return
        await asyncio.sleep(0.1)


class RecordingBillingClient(BillingClient):
    """Remembers the orders it created, so a test can terminate them when it ends.

    Leftover running workflows would hold the time-skipping server's clock for the next test.
    """

    def __init__(self, client: Client, *, task_queue: str, invoice_merchant: str = "default") -> None:
        super().__init__(client, task_queue=task_queue, merchant=invoice_merchant)
        self.created: set[str] = set()
        self.subscriptions: set[str] = set()
        self.seen = SeenWorkflows()
        self.invoice_merchant = invoice_merchant
        #: Customers of the subscriptions started: their balance workflows are ended with the stack.
        self.customers: set[str] = set()

    async def create_order(self, request: CreateOrder) -> Order:
        self.created.add(request.order_id)
        return await super().create_order(request)

    async def create_subscription(self, request: StartSubscription, *, test_clock: str | None = None) -> Subscription:
        self.subscriptions.add(request.subscription_id)
        self.customers.add(request.customer.customer_id)
        return await super().create_subscription(request, test_clock=test_clock)

    async def wait_for_subscription(
        self,
        subscription_id: str,
        done: Callable[[Subscription], bool],
        *,
        timeout: timedelta = timedelta(seconds=30),
        poll_interval: timedelta = timedelta(milliseconds=200),
    ) -> Subscription:
        """Also waits until no invoice number call is in flight: the time-skipping server can lose track of
        its clock lock when an Update reaches a workflow while such an activity runs (its clock then stays
        locked for the rest of the session), and a test's next step is often an Update."""
        subscription = await super().wait_for_subscription(
            subscription_id, done, timeout=timeout, poll_interval=poll_interval
        )
        await allocations_done(self.temporal, subscription_workflow_id(subscription_id))
        return subscription

    async def terminate_all(self) -> None:
        """Every order and subscription this client started, and the orders the subscriptions issued (they
        outlive their subscription by design: an EXPIRED KESS period order keeps looking for a late payment,
        and its inquiries on a queue nobody polls would hold the time-skipping clock)."""
        orders = set(self.created)
        for subscription_id in self.subscriptions:
            with contextlib.suppress(Exception):
                subscription = await self.get_subscription(subscription_id)
                orders.update(
                    subscription.period_order_id(period.number, attempt)
                    for period in subscription.periods
                    for attempt in range(period.attempts + 2)
                )
                orders.update(adjustment.order_id for adjustment in subscription.adjustments)
            with contextlib.suppress(RPCError):
                workflow_id = subscription_workflow_id(subscription_id)
                await allocations_done(self.temporal, workflow_id)
                await self.temporal.get_workflow_handle(workflow_id).terminate("test finished")
        workflow_ids = {order_workflow_id(order_id) for order_id in orders} | self.seen.ids
        for workflow_id in workflow_ids:
            with contextlib.suppress(RPCError):
                await self.temporal.get_workflow_handle(workflow_id).terminate("test finished")
        # The merchant's invoice sequences last: a workflow task of theirs left on this queue (a late
        # confirmation) would otherwise wait for a worker for the rest of the session.
        for series in (INVOICE_SERIES, CREDIT_NOTE_SERIES):
            with contextlib.suppress(RPCError):
                sequence = self.temporal.get_workflow_handle(sequence_workflow_id(self.invoice_merchant, series))
                await sequence.terminate("test finished")
        for customer_id in self.customers:
            with contextlib.suppress(RPCError):
                balance = self.temporal.get_workflow_handle(balance_workflow_id(self.invoice_merchant, customer_id))
                await balance.terminate("test finished")


KESS_USER, KESS_PASSWORD, KESS_STORE = "kess-test", "kess-test-password", "109038"
WAAFIPAY = WaafiPayAccount("M0910291", "1000416", "API-test-key", "1000200", "HPP-test-key")
API_KEY = "test-api-key"
MERCHANT_ID = "MID-TEST-1"
#: The merchant product page every Waffo order and subscription names (goodsInfo.goodsUrl).
GOODS_URL = "https://merchant.test/shop"


#: Short windows for tests: ten minutes to pay, inquiries after 30 s then every minute, review after three,
#: a one-day refund window.
TEST_ORDER_POLICY = OrderPolicy(
    payment_window=timedelta(minutes=10),
    inquiry_schedule=(timedelta(seconds=30), timedelta(minutes=1)),
    unknown_inquiry_limit=3,
    refund_window=timedelta(days=1),
    provider_call_timeout=timedelta(seconds=10),
)


def waffo_order(order_id: str, *, policy: OrderPolicy | None = None, customer: Customer | None = None) -> CreateOrder:
    """A 10.00 USD Waffo order of customer ``c`` (unless ``customer`` is given), with ``policy`` or the default."""
    return CreateOrder(
        order_id=order_id,
        provider="waffo",
        amount=Money.parse("10.00", "USD"),
        customer=customer or Customer(customer_id="c", email="c@example.com"),
        policy=policy or OrderPolicy(),
    )


@dataclass
class OrderStack:
    client: Client
    task_queue: str
    hub: EmulatorHub
    emulator_url: str
    webhook_url: str
    webhooks: WebhookService
    billing: RecordingBillingClient
    control: httpx.AsyncClient

    async def customer(self, order_id: str, action: str) -> httpx.Response:
        """Act as the customer on the emulator's checkout: pay, fail or abandon."""
        response = await self.control.post(f"/orders/{payment_key(order_id)}/{action}")
        response.raise_for_status()
        return response

    async def fault(self, operation: str, kind: str, count: int = 1, **params: Any) -> None:
        response = await self.control.post(
            "/faults", json={"operation": operation, "kind": kind, "count": count, "params": params}
        )
        response.raise_for_status()

    async def check_until(self, order_id: str, statuses: set[OrderStatus], *, within_s: float = 30.0) -> Order:
        """Ask the order to inquire (``check_now``) until it reaches one of ``statuses``. A check within the hint
        window of the last inquiry is coalesced (billing/hints.py), so a single one may do nothing."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_s
        while (order := await self.billing.get_order(order_id)).status not in statuses:
            assert loop.time() < deadline, f"order {order_id} is {order.status}, not {sorted(statuses)}"
            await self.billing.check_now(order_id)
            await asyncio.sleep(0.5)
        return order

    async def ledger(self, kind: str | None = None) -> list[dict[str, Any]]:
        response = await self.control.get("/ledger")
        response.raise_for_status()
        entries: list[dict[str, Any]] = response.json()["entries"]
        return [e for e in entries if kind is None or e["kind"] == kind]

    async def notifications(self) -> list[dict[str, Any]]:
        response = await self.control.get("/notifications")
        response.raise_for_status()
        body = response.json()
        return body if isinstance(body, list) else body.get("deliveries", body.get("notifications", []))


def waffo_client(emulator_url: str, **overrides: Any) -> WaffoClient:
    options: dict[str, Any] = {
        "base_url": f"{emulator_url}/waffo/api/v1",
        "api_key": API_KEY,
        "merchant_id": MERCHANT_ID,
        "merchant_private_key": merchant_keys().private_b64,
        "waffo_public_key": waffo_keys().public_b64,
        "read_timeout": 5.0,
        "connect_timeout": 2.0,
        "goods_url": GOODS_URL,
    }
    options.update(overrides)
    return WaffoClient(**options)


def kess_client(emulator_url: str, **overrides: Any) -> KessClient:
    options: dict[str, Any] = {
        "base_url": f"{emulator_url}/kess",
        "user": KESS_USER,
        "password": SecretStr(KESS_PASSWORD),
        "store_id": KESS_STORE,
        "read_timeout": 5.0,
    }
    options.update(overrides)
    return KessClient(KessSettings(**options))


def waafipay_client(emulator_url: str, push_timeout: float = 1.5, **overrides: Any) -> WaafiPayClient:
    options: dict[str, Any] = {
        "base_url": f"{emulator_url}/waafipay",
        "merchant_uid": WAAFIPAY.merchant_uid,
        "api_user_id": WAAFIPAY.api_user_id,
        "api_key": SecretStr(WAAFIPAY.api_key),
        "store_id": WAAFIPAY.store_id,
        "hpp_key": SecretStr(WAAFIPAY.hpp_key),
        "push_timeout": push_timeout,
        "read_timeout": 5.0,
    }
    options.update(overrides)
    return WaafiPayClient.from_settings(WaafiPaySettings(**options))


@functools.cache
def test_merchant() -> LocalMerchant:
    """The merchant of every test stack: fixed ids and passwords, RSA keys generated for the run."""
    merchant, waffo = merchant_keys(), waffo_keys()
    return LocalMerchant(
        {
            "waffo": WaffoAccount(
                API_KEY,
                MERCHANT_ID,
                merchant.private_pem,
                merchant.public_pem,
                waffo.private_pem,
                waffo.public_pem,
                GOODS_URL,
            ),
            "kess": KessAccount(KESS_USER, KESS_PASSWORD, KESS_STORE),
            "waafipay": WAAFIPAY,
        }
    )


@contextlib.asynccontextmanager
async def emulator_hub(notify_time_scale: float = 0.0005) -> AsyncIterator[tuple[EmulatorHub, AppServer]]:
    """The emulators with the test merchant, on a free loopback port; wallet pushes and KESS's own delays
    run ten times faster than real, notifications at ``notify_time_scale``."""
    async with stackbuilder.serve_emulators(
        test_merchant(), time_scales={"waafipay": 0.1, "kess": 0.1}, notify_time_scale=notify_time_scale
    ) as served:
        yield served.hub, served.server


@contextlib.asynccontextmanager
async def order_stack(
    client: Client,
    *,
    read_timeout: float = 5.0,
    events: EventActivities | None = None,
    env: WorkflowEnvironment | None = None,
    kess_settings: dict[str, Any] | None = None,
    waafipay_settings: dict[str, Any] | None = None,
    checked: bool = True,
    runner: WorkflowRunner | None = None,
    workflow_slots: int | None = None,
) -> AsyncIterator[OrderStack]:
    """A worker, HTTP service and emulators for orders. With ``env`` (a time-skipping server), the
    emulators' clocks start at the server's time: a shared server's clock runs ahead of the wall clock by
    every earlier test's skips, and a provider timestamp compared with the workflow's clock (a payment
    time against the deadline) must not carry that drift.

    Workflows run in the checking sandbox (``worker.checking_workflow_runner``), where a nondeterministic call
    anywhere a workflow runs fails the test, so every path a test reaches is checked (each run re-imports the
    engine's code, about 0.1 s). ``checked=False`` runs production's runner (``worker.workflow_runner``,
    unsandboxed), for a stack that says why (``tests/temporal/test_runner.py``); ``runner`` replaces either.
    ``workflow_slots`` bounds the workflow tasks the worker runs at once."""
    task_queue = f"orders-{uuid.uuid4().hex[:12]}"
    # A merchant of its own: its invoice sequences run on this stack's queue and number from 1.
    invoice_merchant = f"m-{task_queue}"
    merchant = test_merchant()
    async with emulator_hub() as (hub, emulator_server), stackbuilder.serve_http(client, merchant) as (service, http):
        if env is not None:
            now = await env.get_current_time()
            for clock in (hub.waffo.clock, hub.kess.clock, hub.waafipay.clock):
                clock.set(now)
        providers = stackbuilder.provider_clients(
            merchant,
            emulator_server.url,
            {
                "waffo": {"read_timeout": read_timeout, "connect_timeout": 2.0},
                "kess": {"read_timeout": 5.0, **(kess_settings or {})},
                "waafipay": {"push_timeout": 1.5, "read_timeout": 5.0, **(waafipay_settings or {})},
            },
        )
        billing = RecordingBillingClient(client, task_queue=task_queue, invoice_merchant=invoice_merchant)
        worker = stackbuilder.in_process_worker(
            client,
            task_queue=task_queue,
            providers=providers,
            http_url=http.url,
            settings=WorkerSettings(
                grace_seconds=0, invoice_merchant=invoice_merchant, max_concurrent_workflow_tasks=workflow_slots
            ),
            events=events,
            runner=runner or (checking_workflow_runner() if checked else None),
            interceptors=[billing.seen],
        )
        try:
            async with worker, httpx.AsyncClient(base_url=f"{emulator_server.url}/waffo/control") as control:
                try:
                    yield OrderStack(
                        client=client,
                        task_queue=task_queue,
                        hub=hub,
                        emulator_url=emulator_server.url,
                        webhook_url=http.url,
                        webhooks=service,
                        billing=billing,
                        control=control,
                    )
                finally:
                    # While the worker still runs: an activity it was running is then abandoned with its
                    # workflow, not left to retry on a queue nobody polls (which would hold the
                    # time-skipping server's clock for the tests after).
                    await billing.terminate_all()
        finally:
            await providers.aclose()
