"""The subscription suites run on a time-skipping server per test, not the shared one.

A subscription allocates each period's invoice number from the merchant's sequence workflow (activities and
a signal-with-start while the test server skips time); under load the shared test server was seen to stop
skipping time after such a test (``Timeout expired`` from a later ``env.sleep``), failing every test after
it. A server of its own per test keeps one test's leftovers from stopping the next one's clock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.events import EventActivities
from billing.settings import MerchantEventSettings
from host.serving import AppServer
from tests.orders.test_refund_outcomes import SECRET, Merchant
from tests.subscriptions.test_engine_invoiced import Engine
from tests.support.stack import order_stack


@pytest.fixture
async def time_skipping_env(own_time_skipping_env: WorkflowEnvironment) -> WorkflowEnvironment:
    return own_time_skipping_env


@pytest.fixture
async def engine(time_skipping_env: WorkflowEnvironment) -> AsyncIterator[Engine]:
    """The engine-billing stack the subscription suites drive, in the checking sandbox."""
    async with order_stack(time_skipping_env.client, checked=True) as stack:
        running = Engine(time_skipping_env, stack)
        try:
            yield running
        finally:
            await running.close()


@pytest.fixture
async def announced(time_skipping_env: WorkflowEnvironment) -> AsyncIterator[tuple[Engine, Merchant]]:
    """The same stack sending its merchant events, signed, to an endpoint on loopback that keeps them."""
    endpoint = Merchant()
    server = AppServer(endpoint.receiver.app("/events"))
    await server.start()
    sender = EventActivities(MerchantEventSettings(url=f"{server.url}/events", secrets=SECRET))
    try:
        async with order_stack(time_skipping_env.client, checked=True, events=sender) as stack:
            running = Engine(time_skipping_env, stack)
            try:
                yield running, endpoint
            finally:
                await running.close()
    finally:
        await sender.aclose()
        await server.stop()
