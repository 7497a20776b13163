"""The HTTP service: verify raw bytes, signal, then acknowledge; never lose a webhook."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from billing.gateway import BillingInterval, Customer, SubscriptionPlan
from billing.idempotency import payment_key, subscription_key
from billing.money import Money
from billing.subscriptions import StartSubscription
from host.serving import AppServer, free_port
from providers.waffo import FAILURE_REPLY_BODY, SUCCESS_REPLY_BODY, BodyVerifier, WaffoNotifications, sign_bytes
from providers.waffo.signing import load_private_key
from tests.support.keys import generate, merchant_keys, waffo_keys
from tests.support.stack import OrderStack, order_stack, waffo_order
from webhooks.app import WebhookService, create_app


def notification(order_id: str, status: str = "PAY_SUCCESS", event: str = "PAYMENT_NOTIFICATION") -> bytes:
    result: dict[str, Any] = {
        "paymentRequestId": payment_key(order_id),
        "merchantOrderId": order_id,
        "acquiringOrderId": "A2026000000000001",
        "orderStatus": status,
        "orderAmount": "10.00",
        "orderCurrency": "USD",
        "finalDealAmount": "10.00",
    }
    return json.dumps({"eventType": event, "result": result}, separators=(",", ":")).encode()


def signed(body: bytes, private_pem: bytes | None = None) -> dict[str, str]:
    key = load_private_key((private_pem or waffo_keys().private_pem).decode())
    return {"Content-Type": "application/json", "X-SIGNATURE": sign_bytes(body, key)}


@pytest.fixture
async def stack(time_skipping_env: WorkflowEnvironment) -> AsyncIterator[OrderStack]:
    async with order_stack(time_skipping_env.client) as running:
        yield running


async def create(stack: OrderStack, order_id: str) -> None:
    await stack.billing.create_order(waffo_order(order_id))


async def test_forged_signature_gets_401_and_signals_nothing(stack: OrderStack) -> None:
    await create(stack, "wh-forged")
    body = notification("wh-forged")
    async with httpx.AsyncClient(base_url=stack.webhook_url) as http:
        forged = await http.post(
            "/webhooks/waffo/orders/wh-forged", content=body, headers=signed(body, generate().private_pem)
        )
        unsigned = await http.post(
            "/webhooks/waffo/orders/wh-forged", content=body, headers={"Content-Type": "application/json"}
        )
        reserialized = await http.post(
            "/webhooks/waffo/orders/wh-forged", content=json.dumps(json.loads(body)), headers=signed(body)
        )
    assert forged.status_code == unsigned.status_code == reserialized.status_code == 401
    assert forged.content != SUCCESS_REPLY_BODY
    assert stack.webhooks.counters.signalled == 0
    assert stack.webhooks.counters.rejected_signature == 3
    order = await stack.billing.get_order("wh-forged")
    assert not [entry for entry in order.timeline if entry.event == "notification"]


async def test_verified_notification_is_signalled_then_acknowledged_exactly(stack: OrderStack) -> None:
    await create(stack, "wh-ok")
    body = notification("wh-ok")
    async with httpx.AsyncClient(base_url=stack.webhook_url) as http:
        reply = await http.post("/webhooks/waffo/orders/wh-ok", content=body, headers=signed(body))
    assert reply.status_code == 200
    assert reply.content == SUCCESS_REPLY_BODY
    assert reply.headers["content-type"] == "application/json"
    assert BodyVerifier(merchant_keys().public_b64).verify(reply.content, reply.headers["x-signature"])
    order = await stack.billing.get_order("wh-ok")
    assert order.status.value == "PAID"


async def test_a_notification_signed_by_the_official_waffo_sdk_is_signalled_and_acknowledged(
    stack: OrderStack,
) -> None:
    """The body and signature made by Waffo's own SDK signing code (waffo.utils.rsa_utils), not ours; the
    reply must verify with the SDK's code and be the body its webhook handler sends."""
    from waffo.core.webhook_handler import SUCCESS_RESPONSE_BODY
    from waffo.utils import rsa_utils

    await create(stack, "wh-sdk")
    body = notification("wh-sdk").decode()
    headers = {"Content-Type": "application/json", "X-SIGNATURE": rsa_utils.sign(body, waffo_keys().private_b64)}
    async with httpx.AsyncClient(base_url=stack.webhook_url) as http:
        reply = await http.post("/webhooks/waffo/orders/wh-sdk", content=body.encode(), headers=headers)
    assert (reply.status_code, reply.text) == (200, SUCCESS_RESPONSE_BODY)
    assert rsa_utils.verify(reply.text, reply.headers["x-signature"], merchant_keys().public_b64)
    order = await stack.billing.get_order("wh-sdk")
    assert order.status.value == "PAID"


async def test_malformed_but_signed_gets_400(stack: OrderStack) -> None:
    body = b'{"result": "no event type"}'
    async with httpx.AsyncClient(base_url=stack.webhook_url) as http:
        reply = await http.post("/webhooks/waffo/orders/x", content=body, headers=signed(body))
    assert reply.status_code == 400
    assert stack.webhooks.counters.malformed == 1


async def test_unknown_waffo_event_type_is_refused_so_waffo_retries(stack: OrderStack) -> None:
    """A verified Waffo event type the engine does not handle is answered with Waffo's failure reply, as
    Waffo's own SDK answers it (``{"message":"failed"}``, signed): Waffo retries it, nothing is signalled."""
    unknown = notification("wh-none", event="SOMETHING_NEW")
    async with httpx.AsyncClient(base_url=stack.webhook_url) as http:
        on_order = await http.post("/webhooks/waffo/orders/wh-none", content=unknown, headers=signed(unknown))
        portal_wide = await http.post("/webhooks/waffo", content=unknown, headers=signed(unknown))
    for reply in (on_order, portal_wide):
        assert reply.status_code == 422
        assert reply.content == FAILURE_REPLY_BODY
        assert BodyVerifier(merchant_keys().public_b64).verify(reply.content, reply.headers["x-signature"])
    assert (stack.webhooks.counters.unhandled, stack.webhooks.counters.signalled) == (2, 0)


async def test_portal_wide_route_delivers_a_subscription_statement_by_its_merchant_subscription_id(
    stack: OrderStack,
) -> None:
    """Waffo may post every notification to one portal-wide URL: a subscription statement names the merchant
    subscription id (``merchantSubscriptionId``), which is the engine's subscription id."""
    await stack.billing.create_subscription(
        StartSubscription(
            subscription_id="wh-sub-portal",
            provider="waffo",
            plan=SubscriptionPlan(
                plan_id="basic", description="Basic", amount=Money.parse("9.99", "USD"), interval=BillingInterval.MONTH
            ),
            customer=Customer(customer_id="c", email="c@example.com"),
        )
    )
    result = {
        "subscriptionRequest": subscription_key("wh-sub-portal"),
        "merchantSubscriptionId": "wh-sub-portal",
        "subscriptionId": "SC2026000000000000000000001",
        "subscriptionStatus": "AUTHORIZATION_REQUIRED",
    }
    body = json.dumps({"eventType": "SUBSCRIPTION_STATUS_NOTIFICATION", "result": result}).encode()
    missing = json.dumps(
        {"eventType": "SUBSCRIPTION_STATUS_NOTIFICATION", "result": {**result, "merchantSubscriptionId": "nobody"}}
    ).encode()
    async with httpx.AsyncClient(base_url=stack.webhook_url) as http:
        delivered = await http.post("/webhooks/waffo", content=body, headers=signed(body))
        unrouted = await http.post("/webhooks/waffo", content=missing, headers=signed(missing))
    assert (delivered.status_code, delivered.content) == (200, SUCCESS_REPLY_BODY)
    assert unrouted.status_code == 404
    assert (stack.webhooks.counters.signalled, stack.webhooks.counters.unroutable) == (1, 1)


async def test_temporal_unreachable_makes_the_provider_retry() -> None:
    closed = free_port()

    async def unreachable() -> Client:
        return await Client.connect(f"127.0.0.1:{closed}")

    service = WebhookService(
        unreachable, {"waffo": WaffoNotifications(waffo_keys().public_b64, merchant_keys().private_b64)}
    )
    server = AppServer(create_app(service))
    await server.start()
    try:
        body = notification("wh-down")
        async with httpx.AsyncClient(base_url=server.url) as http:
            reply = await http.post("/webhooks/waffo/orders/wh-down", content=body, headers=signed(body))
            health = await http.get("/healthz")
    finally:
        await server.stop()
    assert reply.status_code == 503
    assert reply.content != SUCCESS_REPLY_BODY, "Waffo retries anything but the exact success body"
    assert service.counters.temporal_unavailable == 1
    assert health.status_code == 200
