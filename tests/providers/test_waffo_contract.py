"""WaffoClient against the Waffo emulator over real HTTP (uvicorn on loopback), never a mock transport.

1. The provider contract (``tests/providers/contract.py``) with a Waffo harness.
2. Every endpoint, asserting the normalized results.
3. Signing in both directions, with raw requests built here.
4. Classification of every answer class, transport fault and lost answer.
5. Idempotent replays, proven on the emulator's money ledger.
6. Notification retries until the merchant's reply is exactly right.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from billing.errors import (
    AnswerMismatchError,
    ConflictError,
    InvalidStateError,
    NotFoundError,
    NotificationError,
    OutcomeUnknownError,
    ProviderConnectionError,
    ProviderServerError,
    ProviderTimeoutError,
    ResponseVerificationError,
)
from billing.money import Money
from emulators.hub import EmulatorHub
from host.serving import AppServer
from providers.base import (
    BillingInterval,
    CancelledBy,
    CancelPayment,
    CancelSubscription,
    CaptureMode,
    CapturePayment,
    ChangeStatus,
    ChangeSubscription,
    CustomerActionKind,
    FailureCategory,
    InquireSubscriptionChange,
    ManageSubscription,
    PaymentEvent,
    PaymentOutcome,
    PaymentProvider,
    PaymentRef,
    PaymentStatus,
    RefundEvent,
    RefundRef,
    RefundStatus,
    SubscriptionOutcome,
    SubscriptionPlan,
    SubscriptionRef,
    SubscriptionStatus,
)
from providers.waffo import (
    SIGNATURE_HEADER,
    SUCCESS_REPLY_BODY,
    BodyVerifier,
    WaffoClient,
    WaffoNotifications,
    encode_body,
    load_private_key,
    sign_bytes,
    transform,
)
from tests.providers.conftest import KeyPair
from tests.providers.contract import AnswerFault, Movement, PaymentProviderContract, ProviderHarness
from tests.support import keys
from tests.support.stack import API_KEY, GOODS_URL, MERCHANT_ID, emulator_hub, waffo_client

USD = "USD"
#: Short enough that the emulator's delayed answers (TIMEOUT_FAULT_MS) always time out.
IMPATIENT_READ_TIMEOUT_S = 0.25
TIMEOUT_FAULT_MS = 1000


def usd(text: str) -> Money:
    return Money.parse(text, USD)


def now() -> datetime:
    return datetime.now(UTC)


def notifications_codec() -> WaffoNotifications:
    return WaffoNotifications(keys.waffo_keys().public_b64, keys.merchant_keys().private_b64)


def starlette_reply(status: int, headers: dict[str, str], body: bytes) -> Response:
    return Response(content=body, status_code=status, headers=headers)


# -- the acknowledging receiver and the environment ----------------------------------------------


@dataclass
class Received:
    body: bytes
    event: Any | None
    error: str | None


@dataclass
class AckingReceiver:
    """A merchant endpoint that verifies every notification with WaffoNotifications and acknowledges it."""

    codec: WaffoNotifications = field(default_factory=notifications_codec)
    received: list[Received] = field(default_factory=list)

    async def endpoint(self, request: Request) -> Response:
        body = await request.body()
        try:
            event = self.codec.parse_notification(body, dict(request.headers))
        except NotificationError as exc:
            self.received.append(Received(body, None, str(exc)))
            reply = self.codec.failure_reply()
        else:
            self.received.append(Received(body, event, None))
            reply = self.codec.success_reply()
        return starlette_reply(reply.status_code, reply.headers, reply.body)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/notify", self.endpoint, methods=["POST"])])


@dataclass
class Exchange:
    request: httpx.Request
    response: httpx.Response


@dataclass
class WaffoEnv:
    hub: EmulatorHub
    url: str
    control: httpx.AsyncClient
    client: WaffoClient
    impatient: WaffoClient
    unsigned_tolerant: WaffoClient
    receiver: AckingReceiver
    notify_url: str
    exchanges: list[Exchange]

    async def fault(self, operation: str, kind: str, count: int = 1, **params: Any) -> None:
        response = await self.control.post(
            "/faults", json={"operation": operation, "kind": kind, "count": count, "params": params}
        )
        response.raise_for_status()

    async def ledger(self, **references: str) -> list[dict[str, Any]]:
        response = await self.control.get("/ledger")
        response.raise_for_status()
        entries: list[dict[str, Any]] = response.json()["entries"]
        return [e for e in entries if all(e.get(k) == v for k, v in references.items())]

    async def act(self, path: str, **body: Any) -> dict[str, Any]:
        response = await self.control.post(path, json=body or None)
        response.raise_for_status()
        document: dict[str, Any] = response.json()
        return document

    async def drain(self) -> None:
        assert (await self.act("/notifications/drain", timeoutS=10)) == {"drained": True}


@pytest.fixture(scope="module")
async def env() -> AsyncIterator[WaffoEnv]:
    exchanges: list[Exchange] = []

    async def record(response: httpx.Response) -> None:
        await response.aread()
        exchanges.append(Exchange(response.request, response))

    receiver = AckingReceiver()
    receiver_server = AppServer(receiver.app())
    await receiver_server.start()
    recording_http = httpx.AsyncClient(event_hooks={"response": [record]})
    try:
        async with emulator_hub() as (hub, server):
            notify_url = f"{receiver_server.url}/notify"
            client = waffo_client(server.url, http_client=recording_http, notify_url=notify_url)
            impatient = waffo_client(server.url, read_timeout=IMPATIENT_READ_TIMEOUT_S)
            unsigned_tolerant = waffo_client(server.url, require_response_signature=False)
            async with httpx.AsyncClient(base_url=f"{server.url}/waffo/control") as control:
                yield WaffoEnv(
                    hub=hub,
                    url=server.url,
                    control=control,
                    client=client,
                    impatient=impatient,
                    unsigned_tolerant=unsigned_tolerant,
                    receiver=receiver,
                    notify_url=notify_url,
                    exchanges=exchanges,
                )
                await control.delete("/faults")
                await control.post("/notifications/drain", json={"timeoutS": 5})
            for provider in (client, impatient, unsigned_tolerant):
                await provider.aclose()
    finally:
        await recording_http.aclose()
        await receiver_server.stop()


@pytest.fixture(autouse=True)
async def _no_leftover_faults(env: WaffoEnv) -> AsyncIterator[None]:
    yield
    await env.control.delete("/faults")


# -- the contract ---------------------------------------------------------------------------------

_OPERATIONS = {
    "create_payment": "order/create",
    "inquire_payment": "order/inquiry",
    "cancel_payment": "order/cancel",
    "capture_payment": "order/capture",
    "refund": "order/refund",
    "inquire_refund": "refund/inquiry",
    "create_subscription": "subscription/create",
    "inquire_subscription": "subscription/inquiry",
    "cancel_subscription": "subscription/cancel",
    "manage_subscription": "subscription/manage",
    "change_subscription": "subscription/change",
    "inquire_subscription_change": "subscription/change/inquiry",
}

_FAULT_KINDS = {
    AnswerFault.TIMEOUT: "timeout_after_commit",
    AnswerFault.UNKNOWN_STATUS: "e0001",
    AnswerFault.DROPPED: "drop_connection",
    AnswerFault.UNVERIFIABLE: "bad_signature",
    AnswerFault.GATEWAY_ERROR: "http_500",
}


class WaffoHarness(ProviderHarness):
    currency = USD

    def __init__(self, env: WaffoEnv) -> None:
        self.env = env
        self.provider = env.client
        self.notify_url = env.notify_url

    @property
    def decline_amount(self) -> Money:
        return usd("9.00")  # sandbox trigger: C0005 channel rejection

    async def customer_pays(self, payment: PaymentOutcome) -> None:
        await self.env.act(f"/orders/{payment.provider_reference}/pay")

    async def customer_fails(self, payment: PaymentOutcome) -> None:
        await self.env.act(f"/orders/{payment.provider_reference}/fail")

    async def customer_authorizes_subscription(self, subscription: SubscriptionOutcome) -> None:
        await self.env.act(f"/subscriptions/{subscription.provider_reference}/pay")

    async def movements(self, provider_reference: str) -> list[Movement]:
        return [
            Movement(entry["kind"], Money.parse(entry["amount"], entry["currency"]))
            for entry in await self.env.ledger(acquiringOrderId=provider_reference)
        ]

    async def lose_next_answer(self, operation: str, fault: AnswerFault) -> PaymentProvider:
        params = {"ms": TIMEOUT_FAULT_MS} if fault is AnswerFault.TIMEOUT else {}
        await self.env.fault(_OPERATIONS[operation], _FAULT_KINDS[fault], **params)
        return self.env.impatient if fault is AnswerFault.TIMEOUT else self.env.client


class TestWaffoContract(PaymentProviderContract):
    @pytest.fixture
    def harness(self, env: WaffoEnv) -> ProviderHarness:
        return WaffoHarness(env)


# -- helpers for the Waffo-specific tests ---------------------------------------------------------


def payment_request(env: WaffoEnv, amount: str = "25.00", **overrides: Any) -> Any:
    harness = WaffoHarness(env)
    request = harness.payment_request(amount=usd(amount))
    return request.model_copy(update=overrides) if overrides else request


def ref(outcome: PaymentOutcome) -> PaymentRef:
    assert outcome.idempotency_key is not None
    return PaymentRef(idempotency_key=outcome.idempotency_key, provider_reference=outcome.provider_reference)


def sub_ref(outcome: SubscriptionOutcome) -> SubscriptionRef:
    assert outcome.idempotency_key is not None
    return SubscriptionRef(idempotency_key=outcome.idempotency_key, provider_reference=outcome.provider_reference)


async def paid_payment(env: WaffoEnv, amount: str = "25.00") -> PaymentOutcome:
    created = await env.client.create_payment(payment_request(env, amount))
    await env.act(f"/orders/{created.provider_reference}/pay")
    return created


def plan(amount: str = "25.00", plan_id: str = "basic-monthly") -> SubscriptionPlan:
    return SubscriptionPlan(
        plan_id=plan_id,
        description=f"Plan {plan_id}",
        amount=usd(amount),
        interval=BillingInterval.MONTH,
        periods=12,
    )


async def paid_subscription(env: WaffoEnv) -> SubscriptionOutcome:
    """A 25.00 subscription whose customer authorized it (its first period paid)."""
    created = await env.client.create_subscription(WaffoHarness(env).subscription_request(amount=usd("25.00")))
    await env.act(f"/subscriptions/{created.provider_reference}/pay")
    return created


def change_request(env: WaffoEnv, original: SubscriptionOutcome, credit: str, **fields: Any) -> ChangeSubscription:
    """A change of ``original`` to the 40.00 pro-monthly plan, ``credit`` left of its period; ``fields`` override."""
    harness = WaffoHarness(env)
    request: dict[str, Any] = {
        "idempotency_key": harness.new_key(),
        "original": sub_ref(original),
        "new_plan": plan("40.00", "pro-monthly"),
        "remaining_credit": usd(credit),
        "customer": harness.customer,
        "notify_url": env.notify_url,
        "requested_at": now(),
    }
    return ChangeSubscription(**(request | fields))


# -- 1. every endpoint ----------------------------------------------------------------------------


async def test_order_create_and_inquiry(env: WaffoEnv) -> None:
    request = payment_request(env, "25.00")
    created = await env.client.create_payment(request)
    assert created.status is PaymentStatus.PENDING
    assert created.provider_status == "AUTHORIZATION_REQUIRED"
    assert created.idempotency_key == request.idempotency_key
    assert created.merchant_reference == request.merchant_order_id
    assert created.amount == usd("25.00")
    assert created.provider_reference is not None and created.provider_reference.startswith("A")
    assert len(created.provider_reference) <= 32
    action = created.customer_action
    assert action is not None and action.kind is CustomerActionKind.REDIRECT
    assert action.url == f"{env.url}/waffo/checkout/{created.provider_reference}"
    checkout = await env.control.get(action.url)
    assert checkout.status_code == 200

    pending = await env.client.inquire_payment(ref(created))
    assert pending.status is PaymentStatus.PENDING
    assert pending.provider_reference == created.provider_reference
    assert pending.amount == usd("25.00")
    assert pending.completed_at is None

    await env.act(f"/orders/{created.provider_reference}/pay")
    # By our request id alone, as a caller that lost the create answer would ask.
    paid = await env.client.inquire_payment(PaymentRef(idempotency_key=request.idempotency_key))
    assert paid.status is PaymentStatus.SUCCEEDED
    assert paid.provider_status == "PAY_SUCCESS"
    assert paid.provider_reference == created.provider_reference
    assert paid.merchant_reference == request.merchant_order_id
    assert paid.amount == usd("25.00")
    assert paid.paid_amount is None  # finalDealAmount equals orderAmount
    assert paid.completed_at is not None
    assert paid.failure is None


async def test_order_cancel(env: WaffoEnv) -> None:
    created = await env.client.create_payment(payment_request(env))
    cancelled = await env.client.cancel_payment(CancelPayment(payment=ref(created), requested_at=now()))
    assert cancelled.status is PaymentStatus.CLOSED
    assert cancelled.provider_status == "ORDER_CLOSE"
    assert cancelled.provider_reference == created.provider_reference
    assert cancelled.failure is None
    inquired = await env.client.inquire_payment(ref(created))
    assert (inquired.status, inquired.failure) == (PaymentStatus.CLOSED, None)
    # Cancelling again answers the closed order.
    again = await env.client.cancel_payment(CancelPayment(payment=ref(created), requested_at=now()))
    assert again.status is PaymentStatus.CLOSED


async def test_order_capture_partial(env: WaffoEnv) -> None:
    created = await env.client.create_payment(payment_request(env, capture_mode=CaptureMode.MANUAL))
    await env.act(f"/orders/{created.provider_reference}/pay")
    authorized = await env.client.inquire_payment(ref(created))
    assert (authorized.status, authorized.provider_status) == (
        PaymentStatus.AUTHORIZED,
        "AUTHED_WAITING_CAPTURE",
    )
    captured = await env.client.capture_payment(
        CapturePayment(
            idempotency_key=WaffoHarness.new_key(),
            payment=ref(created),
            amount=usd("10.00"),
            requested_at=now(),
        )
    )
    assert (captured.status, captured.provider_status) == (PaymentStatus.PENDING, "CAPTURE_IN_PROGRESS")
    assert captured.provider_reference == created.provider_reference
    settled = await env.client.inquire_payment(ref(created))
    assert settled.status is PaymentStatus.SUCCEEDED
    assert settled.amount == usd("25.00")
    assert settled.paid_amount == usd("10.00")
    assert [(e["kind"], e["amount"]) for e in await env.ledger(acquiringOrderId=created.provider_reference or "")] == [
        ("authorization", "25.00"),
        ("capture", "10.00"),
        ("void", "15.00"),
    ]


async def test_order_refund_and_refund_inquiry(env: WaffoEnv) -> None:
    payment = await paid_payment(env, "25.00")
    key = WaffoHarness.new_key()
    refund = await env.client.refund(WaffoHarness(env).refund_request(payment, usd("5.50"), key=key))
    assert refund.status is RefundStatus.PENDING
    assert refund.provider_status == "REFUND_IN_PROGRESS"
    assert refund.idempotency_key == key
    assert refund.provider_reference is not None and refund.provider_reference.startswith("R")
    assert refund.payment_reference == payment.provider_reference
    assert refund.amount == usd("5.50")
    assert refund.remaining_refundable == usd("19.50")
    assert refund.failure is None

    inquired = await env.client.inquire_refund(RefundRef(idempotency_key=key, currency="USD"))
    assert inquired.status is RefundStatus.SUCCEEDED
    assert inquired.provider_status == "ORDER_PARTIALLY_REFUNDED"
    assert inquired.provider_reference == refund.provider_reference
    assert inquired.payment_reference == payment.provider_reference
    assert inquired.completed_at is not None
    # The order itself stays paid.
    assert (await env.client.inquire_payment(ref(payment))).status is PaymentStatus.SUCCEEDED

    with pytest.raises(NotFoundError):
        await env.client.inquire_refund(RefundRef(idempotency_key=WaffoHarness.new_key()))


async def test_refund_inquiry_reports_amounts_as_money(env: WaffoEnv) -> None:
    payment = await paid_payment(env, "25.00")
    key = WaffoHarness.new_key()
    await env.client.refund(WaffoHarness(env).refund_request(payment, usd("5.50"), key=key))
    inquired = await env.client.inquire_refund(RefundRef(idempotency_key=key, currency="USD"))
    assert inquired.amount == usd("5.50")
    assert inquired.remaining_refundable == usd("19.50")


async def test_subscription_create_inquiry_manage_cancel(env: WaffoEnv) -> None:
    harness = WaffoHarness(env)
    request = harness.subscription_request(amount=usd("25.00"))
    created = await env.client.create_subscription(request)
    assert created.status is SubscriptionStatus.PENDING
    assert created.provider_status == "AUTHORIZATION_REQUIRED"
    assert created.idempotency_key == request.idempotency_key
    assert created.provider_reference is not None and created.provider_reference.startswith("SC")
    assert created.amount == usd("25.00")
    assert created.customer_action is not None
    assert created.customer_action.url == f"{env.url}/waffo/checkout/subscription/{created.provider_reference}"

    pending = await env.client.inquire_subscription(sub_ref(created))
    assert (pending.status, pending.payments, pending.current_period) == (
        SubscriptionStatus.PENDING,
        (),
        None,
    )
    with pytest.raises(InvalidStateError):  # A0010: no management link before ACTIVE
        await env.client.manage_subscription(ManageSubscription(subscription=sub_ref(created)))

    await env.act(f"/subscriptions/{created.provider_reference}/pay")
    active = await env.client.inquire_subscription(sub_ref(created))
    assert active.status is SubscriptionStatus.ACTIVE
    assert active.provider_reference == created.provider_reference
    assert active.amount == usd("25.00")
    assert active.current_period == 1
    assert active.next_payment_at is not None
    assert [(p.period, p.status, p.amount) for p in active.payments] == [(1, PaymentStatus.SUCCEEDED, usd("25.00"))]
    assert active.failure is None

    link = await env.client.manage_subscription(ManageSubscription(subscription=sub_ref(created)))
    assert link.url.startswith(f"{env.url}/waffo/manage/subscription/{created.provider_reference}")
    assert link.expires_at is not None and link.expires_at > now()

    cancelled = await env.client.cancel_subscription(
        CancelSubscription(subscription=sub_ref(created), requested_at=now())
    )
    assert (cancelled.status, cancelled.cancelled_by, cancelled.provider_status) == (
        SubscriptionStatus.CANCELLED,
        CancelledBy.MERCHANT,
        "MERCHANT_CANCELLED",
    )
    assert cancelled.provider_reference == created.provider_reference
    after = await env.client.inquire_subscription(sub_ref(created))
    assert (after.status, after.cancelled_by) == (SubscriptionStatus.CANCELLED, CancelledBy.MERCHANT)


async def test_subscription_change_and_change_inquiry(env: WaffoEnv) -> None:
    original = await paid_subscription(env)
    change_key = WaffoHarness.new_key()
    change = change_request(
        env, original, "15.00", idempotency_key=change_key, merchant_subscription_id=f"SUB-{change_key[:12]}"
    )
    changed = await env.client.change_subscription(change)
    assert changed.status is ChangeStatus.PENDING
    assert changed.provider_status == "AUTHORIZATION_REQUIRED"
    assert changed.idempotency_key == change_key
    assert changed.original_idempotency_key == original.idempotency_key
    assert changed.provider_reference is not None
    assert changed.provider_reference != original.provider_reference
    assert changed.customer_action is not None and changed.customer_action.kind is CustomerActionKind.REDIRECT

    inquiry = InquireSubscriptionChange(idempotency_key=change_key, original=sub_ref(original))
    assert (await env.client.inquire_subscription_change(inquiry)).status is ChangeStatus.PENDING

    await env.act(f"/subscriptions/{changed.provider_reference}/pay")
    done = await env.client.inquire_subscription_change(inquiry)
    assert (done.status, done.provider_status) == (ChangeStatus.SUCCEEDED, "SUCCESS")
    assert done.provider_reference == changed.provider_reference

    old = await env.client.inquire_subscription(sub_ref(original))
    assert (old.status, old.cancelled_by) == (SubscriptionStatus.CANCELLED, CancelledBy.MERCHANT)
    new = await env.client.inquire_subscription(SubscriptionRef(idempotency_key=change_key))
    assert new.status is SubscriptionStatus.ACTIVE
    assert new.amount == usd("40.00")
    # The first period is charged net of the credit from the old plan.
    assert [(p.period, p.amount) for p in new.payments] == [(1, usd("25.00"))]

    with pytest.raises(NotFoundError):
        await env.client.inquire_subscription_change(
            InquireSubscriptionChange(idempotency_key=WaffoHarness.new_key(), original=sub_ref(original))
        )


async def test_merchant_config_inquiry(env: WaffoEnv) -> None:
    config = await env.client.inquire_merchant_config()
    assert config.merchant_id == MERCHANT_ID
    assert config.failure is None
    # The emulator answers null limits, as the sandbox does: no limit set.
    assert (config.total_daily_limit, config.remaining_daily_limit, config.transaction_limit) == ({}, {}, {})


async def test_pay_method_config_inquiry(env: WaffoEnv) -> None:
    config = await env.client.inquire_pay_method_config()
    assert config.merchant_id == MERCHANT_ID
    assert config.failure is None
    methods = {(m.product_name, m.pay_method_name, m.country) for m in config.pay_methods}
    assert ("ONE_TIME_PAYMENT", "DANA", "IDN") in methods
    assert ("SUBSCRIPTION", "CC_VISA", "HKG") in methods
    assert all(m.available for m in config.pay_methods)
    assert all(m.maintenance_windows == () for m in config.pay_methods)
    assert {m.maintenance_timezone for m in config.pay_methods} == {"UTC+08:00"}


# -- 2. signing -----------------------------------------------------------------------------------


def waffo_verifier() -> BodyVerifier:
    return BodyVerifier(keys.waffo_keys().public_b64)


def merchant_verifier() -> BodyVerifier:
    return BodyVerifier(keys.merchant_keys().public_b64)


def merchant_sign(body: bytes) -> str:
    return sign_bytes(body, load_private_key(keys.merchant_keys().private_b64))


def order_create_body(env: WaffoEnv, amount: str = "25.00") -> tuple[bytes, str]:
    """The exact bytes our client would send for an order create, and their paymentRequestId."""
    request = payment_request(env, amount)
    wire_request = transform.order_create_request(
        request, merchant_id=MERCHANT_ID, notify_url=None, goods=transform.GoodsDefaults(goods_url=GOODS_URL)
    )
    return encode_body(wire_request), request.idempotency_key


async def raw_post(
    env: WaffoEnv, operation: str, body: bytes, headers: dict[str, str]
) -> tuple[httpx.Response, dict[str, Any]]:
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{env.url}/waffo/api/v1/{operation}", content=body, headers=headers)
    document: dict[str, Any] = json.loads(response.content)
    # Every answer, refusals included, is signed by Waffo over the raw response bytes.
    assert waffo_verifier().verify(response.content, response.headers.get(SIGNATURE_HEADER))
    return response, document


def headers_for(body: bytes, *, signature: str | None = None, api_key: str = API_KEY) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "X-API-KEY": api_key}
    headers[SIGNATURE_HEADER] = signature if signature is not None else merchant_sign(body)
    return headers


async def test_requests_signed_by_our_client_are_accepted_and_answers_verify(env: WaffoEnv) -> None:
    start = len(env.exchanges)
    created = await env.client.create_payment(payment_request(env))
    await env.client.inquire_payment(ref(created))
    await env.client.inquire_merchant_config()
    exchanges = env.exchanges[start:]
    assert [e.request.url.path for e in exchanges] == [
        "/waffo/api/v1/order/create",
        "/waffo/api/v1/order/inquiry",
        "/waffo/api/v1/merchantconfig/inquiry",
    ]
    for exchange in exchanges:
        request, response = exchange.request, exchange.response
        assert request.headers["X-API-KEY"] == API_KEY
        assert request.headers["Content-Type"] == "application/json"
        # Compact JSON, signed over exactly the bytes on the wire.
        assert (
            request.content
            == json.dumps(json.loads(request.content), separators=(",", ":"), ensure_ascii=False).encode()
        )
        assert merchant_verifier().verify(request.content, request.headers[SIGNATURE_HEADER])
        assert response.status_code == 200
        assert json.loads(response.content)["code"] == "0"
        assert waffo_verifier().verify(response.content, response.headers[SIGNATURE_HEADER])


async def test_raw_request_signed_with_our_helpers_is_accepted(env: WaffoEnv) -> None:
    body, key = order_create_body(env)
    response, document = await raw_post(env, "order/create", body, headers_for(body))
    assert response.status_code == 200
    assert document["code"] == "0"
    assert document["data"]["paymentRequestId"] == key
    # The same key through our client is an idempotent replay of that raw request.
    found = await env.client.inquire_payment(PaymentRef(idempotency_key=key))
    assert found.provider_reference == document["data"]["acquiringOrderId"]


async def test_tampered_body_is_rejected(env: WaffoEnv) -> None:
    body, key = order_create_body(env, "25.00")
    signature = merchant_sign(body)
    tampered = body.replace(b'"orderAmount":"25.00"', b'"orderAmount":"2.50"')
    assert tampered != body
    response, document = await raw_post(env, "order/create", tampered, headers_for(tampered, signature=signature))
    assert (response.status_code, document["code"], document.get("data")) == (401, "A0002", None)
    with pytest.raises(NotFoundError):
        await env.client.inquire_payment(PaymentRef(idempotency_key=key))


async def test_signature_by_another_key_is_rejected(env: WaffoEnv, other_keys: KeyPair) -> None:
    body, _ = order_create_body(env)
    signature = sign_bytes(body, other_keys.private_key)
    response, document = await raw_post(env, "order/create", body, headers_for(body, signature=signature))
    assert (response.status_code, document["code"]) == (401, "A0002")


async def test_missing_signature_header_is_rejected(env: WaffoEnv) -> None:
    body, _ = order_create_body(env)
    headers = headers_for(body)
    del headers[SIGNATURE_HEADER]
    response, document = await raw_post(env, "order/create", body, headers)
    assert (response.status_code, document["code"]) == (401, "A0002")


async def test_unknown_api_key_is_rejected(env: WaffoEnv) -> None:
    body, _ = order_create_body(env)
    response, document = await raw_post(env, "order/create", body, headers_for(body, api_key="no-such-key"))
    assert (response.status_code, document["code"]) == (401, "A0001")


async def test_reserialized_body_is_rejected(env: WaffoEnv) -> None:
    body, key = order_create_body(env)
    spaced = json.dumps(json.loads(body), ensure_ascii=False).encode()  # ", " and ": " separators
    assert spaced != body and json.loads(spaced) == json.loads(body)
    response, document = await raw_post(env, "order/create", spaced, headers_for(spaced, signature=merchant_sign(body)))
    assert (response.status_code, document["code"]) == (401, "A0002")
    with pytest.raises(NotFoundError):
        await env.client.inquire_payment(PaymentRef(idempotency_key=key))
    # Whitespace itself is fine when the signature covers the bytes actually sent.
    response, document = await raw_post(env, "order/create", spaced, headers_for(spaced))
    assert (response.status_code, document["code"]) == (200, "0")


# -- 3. classification ----------------------------------------------------------------------------


async def test_a_class_refund_above_remaining_is_a_failed_value(env: WaffoEnv) -> None:
    payment = await paid_payment(env, "25.00")
    over = await env.client.refund(WaffoHarness(env).refund_request(payment, usd("25.01")))
    assert over.status is RefundStatus.FAILED
    assert over.failure is not None
    assert (over.failure.code, over.failure.category, over.failure.hard) == (
        "A0014",
        FailureCategory.MERCHANT,
        True,
    )
    assert over.amount == usd("25.01")
    assert await env.ledger(acquiringOrderId=payment.provider_reference or "", kind="refund") == []


async def test_a_class_refund_of_an_unpaid_order(env: WaffoEnv) -> None:
    created = await env.client.create_payment(payment_request(env))
    refused = await env.client.refund(WaffoHarness(env).refund_request(created, usd("1.00")))
    assert refused.status is RefundStatus.FAILED
    assert refused.failure is not None and refused.failure.code == "A0014"


async def test_a_class_capture_of_an_unauthorized_order(env: WaffoEnv) -> None:
    created = await env.client.create_payment(payment_request(env))
    refused = await env.client.capture_payment(
        CapturePayment(
            idempotency_key=WaffoHarness.new_key(),
            payment=ref(created),
            amount=usd("25.00"),
            requested_at=now(),
        )
    )
    # The refusal says nothing about the order's own state: pending, with the failure attached.
    assert refused.status is PaymentStatus.PENDING
    assert refused.failure is not None
    # The order was not created for manual capture: A0035 (the SDK's error-code table).
    assert (refused.failure.code, refused.failure.category, refused.failure.hard) == (
        "A0035",
        FailureCategory.MERCHANT,
        True,
    )


async def test_a_class_cancel_of_a_paid_order_says_succeeded(env: WaffoEnv) -> None:
    payment = await paid_payment(env)
    refused = await env.client.cancel_payment(CancelPayment(payment=ref(payment), requested_at=now()))
    assert refused.status is PaymentStatus.SUCCEEDED
    assert refused.failure is not None and refused.failure.code == "A0013"
    assert refused.provider_reference == payment.provider_reference


async def test_a_class_subscription_operations_on_inactive_subscriptions(env: WaffoEnv) -> None:
    harness = WaffoHarness(env)
    pending = await env.client.create_subscription(harness.subscription_request())
    refused = await env.client.cancel_subscription(
        CancelSubscription(subscription=sub_ref(pending), requested_at=now())
    )
    assert refused.failure is not None and refused.failure.code == "A0010"
    assert refused.status is SubscriptionStatus.PENDING
    change = await env.client.change_subscription(change_request(env, pending, "0.00"))
    assert change.status is ChangeStatus.CLOSED
    assert change.failure is not None and change.failure.code == "A0010"
    with pytest.raises(NotFoundError):
        await env.client.inquire_subscription(SubscriptionRef(idempotency_key=harness.new_key()))
    with pytest.raises(NotFoundError):
        await env.client.manage_subscription(
            ManageSubscription(subscription=SubscriptionRef(idempotency_key=harness.new_key()))
        )


async def test_subscription_first_payment_failure_closes_it(env: WaffoEnv) -> None:
    created = await env.client.create_subscription(WaffoHarness(env).subscription_request())
    await env.act(f"/subscriptions/{created.provider_reference}/fail")
    closed = await env.client.inquire_subscription(sub_ref(created))
    assert (closed.status, closed.provider_status) == (SubscriptionStatus.CLOSED, "CLOSE")
    assert closed.failure is not None
    assert (closed.failure.code, closed.failure.category) == ("K024", FailureCategory.PROVIDER)
    assert [(p.period, p.status, p.amount) for p in closed.payments] == [(1, PaymentStatus.CLOSED, usd("25.00"))]


@pytest.mark.parametrize(
    ("overrides", "status", "code"),
    [
        ({"merchant_id": "MID-SOMEONE-ELSE"}, 401, "A0004"),
        ({"api_key": "no-such-key"}, 401, "A0001"),
        ("wrong-private-key", 401, "A0002"),
    ],
)
async def test_a_class_refusals_of_our_own_requests_are_declined_values(
    env: WaffoEnv, other_keys: KeyPair, overrides: Any, status: int, code: str
) -> None:
    if overrides == "wrong-private-key":
        overrides = {"merchant_private_key": other_keys.private_b64}
    client = waffo_client(env.url, **overrides)
    try:
        request = payment_request(env)
        outcome = await client.create_payment(request)
    finally:
        await client.aclose()
    assert outcome.status is PaymentStatus.DECLINED
    assert outcome.failure is not None
    assert (outcome.failure.code, outcome.failure.category, outcome.failure.hard) == (
        code,
        FailureCategory.MERCHANT,
        True,
    )
    assert outcome.provider_reference is None
    with pytest.raises(NotFoundError):
        await env.client.inquire_payment(PaymentRef(idempotency_key=request.idempotency_key))


@pytest.mark.parametrize(
    ("amount", "code"),
    [("9.10", "C0001"), ("91.00", "C0001"), ("9.00", "C0005"), ("990.00", "C0005")],
)
async def test_c_class_magic_amounts_are_declined_values(env: WaffoEnv, amount: str, code: str) -> None:
    request = payment_request(env, amount)
    outcome = await env.client.create_payment(request)
    assert outcome.status is PaymentStatus.DECLINED
    assert outcome.failure is not None
    assert (outcome.failure.code, outcome.failure.category, outcome.failure.hard) == (
        code,
        FailureCategory.PROVIDER,
        False,
    )
    assert outcome.amount == usd(amount)
    assert outcome.provider_reference is None
    # C-class creates nothing.
    with pytest.raises(NotFoundError):
        await env.client.inquire_payment(PaymentRef(idempotency_key=request.idempotency_key))


async def test_c_class_on_subscription_create_is_a_closed_value(env: WaffoEnv) -> None:
    outcome = await env.client.create_subscription(WaffoHarness(env).subscription_request(amount=usd("9.00")))
    assert outcome.status is SubscriptionStatus.CLOSED
    assert outcome.failure is not None and outcome.failure.code == "C0005"


@pytest.mark.parametrize(
    ("status", "code", "category", "hard"),
    [(400, "B0001", FailureCategory.CUSTOMER, False), (406, "D0001", FailureCategory.RISK, True)],
)
async def test_b_and_d_class_envelopes_are_declined_values(
    env: WaffoEnv, status: int, code: str, category: FailureCategory, hard: bool
) -> None:
    """The emulator never answers B or D codes itself; its http_500 fault can carry any body.

    That answer is unsigned, so only a client that tolerates a missing response signature reads it.
    """
    envelope = json.dumps({"code": code, "msg": "refused"})
    await env.fault("order/create", "http_500", status=status, body=envelope)
    outcome = await env.unsigned_tolerant.create_payment(payment_request(env))
    assert outcome.status is PaymentStatus.DECLINED
    assert outcome.failure is not None
    assert (outcome.failure.code, outcome.failure.category, outcome.failure.hard) == (code, category, hard)

    # Our default client never trusts an unsigned refusal.
    await env.fault("order/create", "http_500", status=status, body=envelope)
    with pytest.raises(ResponseVerificationError):
        await env.client.create_payment(payment_request(env))


@pytest.mark.parametrize(
    ("action", "body", "code", "category", "hard"),
    [
        ("fail", {}, "K024", FailureCategory.PROVIDER, False),
        (
            "fail",
            {"orderFailedCode": "D0001", "orderFailedDescription": "risk"},
            "D0001",
            FailureCategory.RISK,
            True,
        ),
        ("abandon", {}, "B0003", FailureCategory.CUSTOMER, False),
        ("expire", {}, "B0002", FailureCategory.CUSTOMER, False),
    ],
)
async def test_failure_reasons_classify_on_inquiry(
    env: WaffoEnv, action: str, body: dict[str, str], code: str, category: FailureCategory, hard: bool
) -> None:
    created = await env.client.create_payment(payment_request(env))
    await env.act(f"/orders/{created.provider_reference}/{action}", **body)
    outcome = await env.client.inquire_payment(ref(created))
    assert (outcome.status, outcome.provider_status) == (PaymentStatus.DECLINED, "ORDER_CLOSE")
    assert outcome.failure is not None
    assert (outcome.failure.code, outcome.failure.category, outcome.failure.hard) == (code, category, hard)


async def test_e0001_magic_amount_is_unknown_and_the_order_exists(env: WaffoEnv) -> None:
    request = payment_request(env, "9.20")
    with pytest.raises(ProviderServerError) as raised:
        await env.client.create_payment(request)
    assert isinstance(raised.value, OutcomeUnknownError)
    assert (raised.value.code, raised.value.status_code) == ("E0001", 500)
    found = await env.client.inquire_payment(PaymentRef(idempotency_key=request.idempotency_key))
    assert (found.status, found.provider_status) == (PaymentStatus.PENDING, "PAY_IN_PROGRESS")
    await env.act(f"/orders/{found.provider_reference}/pay")
    assert (await env.client.inquire_payment(ref(found))).status is PaymentStatus.SUCCEEDED


async def test_e0001_magic_amount_on_subscription_create(env: WaffoEnv) -> None:
    request = WaffoHarness(env).subscription_request(amount=usd("92.00"))
    with pytest.raises(ProviderServerError) as raised:
        await env.client.create_subscription(request)
    assert raised.value.code == "E0001"
    found = await env.client.inquire_subscription(SubscriptionRef(idempotency_key=request.idempotency_key))
    assert (found.status, found.provider_status) == (SubscriptionStatus.PENDING, "IN_PROGRESS")


async def test_e0001_fault_on_refund_is_unknown_and_the_refund_was_made(env: WaffoEnv) -> None:
    payment = await paid_payment(env)
    key = WaffoHarness.new_key()
    await env.fault("order/refund", "e0001")
    with pytest.raises(ProviderServerError) as raised:
        await env.client.refund(WaffoHarness(env).refund_request(payment, usd("5.00"), key=key))
    assert raised.value.code == "E0001"
    found = await env.client.inquire_refund(RefundRef(idempotency_key=key))
    assert found.status is RefundStatus.SUCCEEDED
    assert len(await env.ledger(refundRequestId=key)) == 1


async def test_e0001_fault_on_a_read_raises_instead_of_a_failure_value(env: WaffoEnv) -> None:
    await env.fault("merchantconfig/inquiry", "e0001")
    with pytest.raises(ProviderServerError):
        await env.client.inquire_merchant_config()
    await env.fault("paymethodconfig/inquiry", "e0001")
    with pytest.raises(ProviderServerError):
        await env.client.inquire_pay_method_config()


async def test_timeout_after_commit_then_inquiry_finds_the_order(env: WaffoEnv) -> None:
    request = payment_request(env)
    await env.fault("order/create", "timeout_after_commit", ms=TIMEOUT_FAULT_MS)
    with pytest.raises(ProviderTimeoutError) as raised:
        await env.impatient.create_payment(request)
    assert isinstance(raised.value, OutcomeUnknownError)
    found = await env.client.inquire_payment(PaymentRef(idempotency_key=request.idempotency_key))
    assert found.status is PaymentStatus.PENDING
    assert found.provider_reference is not None


async def test_timeout_after_commit_on_refund_then_inquiry_finds_the_refund(env: WaffoEnv) -> None:
    payment = await paid_payment(env)
    key = WaffoHarness.new_key()
    await env.fault("order/refund", "timeout_after_commit", ms=TIMEOUT_FAULT_MS)
    with pytest.raises(ProviderTimeoutError):
        await env.impatient.refund(WaffoHarness(env).refund_request(payment, usd("5.00"), key=key))
    assert (await env.client.inquire_refund(RefundRef(idempotency_key=key))).status is RefundStatus.SUCCEEDED


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_http_5xx_is_a_server_error_and_nothing_was_done(env: WaffoEnv, status: int) -> None:
    request = payment_request(env)
    await env.fault("order/create", "http_500", status=status)
    with pytest.raises(ProviderServerError) as raised:
        await env.client.create_payment(request)
    assert isinstance(raised.value, OutcomeUnknownError)
    assert (raised.value.status_code, raised.value.code) == (status, None)
    with pytest.raises(NotFoundError):
        await env.client.inquire_payment(PaymentRef(idempotency_key=request.idempotency_key))


async def test_bad_response_signature_is_a_verification_error(env: WaffoEnv) -> None:
    created = await env.client.create_payment(payment_request(env))
    await env.fault("order/cancel", "bad_signature")
    with pytest.raises(ResponseVerificationError) as raised:
        await env.client.cancel_payment(CancelPayment(payment=ref(created), requested_at=now()))
    assert isinstance(raised.value, OutcomeUnknownError)
    # The cancel was committed even though its answer could not be trusted.
    assert (await env.client.inquire_payment(ref(created))).status is PaymentStatus.CLOSED


async def test_bad_response_signature_on_a_read(env: WaffoEnv) -> None:
    await env.fault("paymethodconfig/inquiry", "bad_signature")
    with pytest.raises(ResponseVerificationError):
        await env.client.inquire_pay_method_config()


@pytest.mark.parametrize("operation", ["order/create", "order/inquiry"])
async def test_dropped_connection_is_a_connection_error(env: WaffoEnv, operation: str) -> None:
    request = payment_request(env)
    if operation == "order/inquiry":
        await env.client.create_payment(request)
    await env.fault(operation, "drop_connection")
    call = (
        env.client.create_payment(request)
        if operation == "order/create"
        else env.client.inquire_payment(PaymentRef(idempotency_key=request.idempotency_key))
    )
    with pytest.raises(ProviderConnectionError) as raised:
        await call
    assert isinstance(raised.value, OutcomeUnknownError)
    found = await env.client.inquire_payment(PaymentRef(idempotency_key=request.idempotency_key))
    assert found.status is PaymentStatus.PENDING


@pytest.mark.parametrize("kind", ["e0001", "http_500", "bad_signature", "drop_connection"])
@pytest.mark.parametrize("operation", ["order/cancel", "order/capture", "subscription/cancel", "subscription/change"])
async def test_every_unknown_outcome_raises_never_a_failure_value(env: WaffoEnv, operation: str, kind: str) -> None:
    harness = WaffoHarness(env)
    call: Any
    if operation.startswith("order/"):
        created = await env.client.create_payment(payment_request(env, capture_mode=CaptureMode.MANUAL))
        await env.act(f"/orders/{created.provider_reference}/pay")
        if operation == "order/cancel":
            call = env.client.cancel_payment(CancelPayment(payment=ref(created), requested_at=now()))
        else:
            call = env.client.capture_payment(
                CapturePayment(
                    idempotency_key=harness.new_key(),
                    payment=ref(created),
                    amount=usd("25.00"),
                    requested_at=now(),
                )
            )
    else:
        subscription = await env.client.create_subscription(harness.subscription_request())
        await env.act(f"/subscriptions/{subscription.provider_reference}/pay")
        if operation == "subscription/cancel":
            call = env.client.cancel_subscription(
                CancelSubscription(subscription=sub_ref(subscription), requested_at=now())
            )
        else:
            call = env.client.change_subscription(change_request(env, subscription, "10.00"))
    await env.fault(operation, kind)
    with pytest.raises(OutcomeUnknownError):
        await call


# -- 4. idempotent replay -------------------------------------------------------------------------


async def test_create_replay_is_one_order_on_the_ledger(env: WaffoEnv) -> None:
    request = payment_request(env)
    first = await env.client.create_payment(request)
    second = await env.client.create_payment(request.model_copy(update={"requested_at": now()}))
    assert second.provider_reference == first.provider_reference
    assert second.status is PaymentStatus.PENDING
    order = await env.control.get(f"/orders/{request.idempotency_key}")
    assert order.json()["acquiringOrderId"] == first.provider_reference
    await env.act(f"/orders/{first.provider_reference}/pay")
    assert [e["acquiringOrderId"] for e in await env.ledger(paymentRequestId=request.idempotency_key)] == [
        first.provider_reference
    ]


async def test_same_payment_key_with_another_amount_is_a_conflict(env: WaffoEnv) -> None:
    request = payment_request(env, "25.00")
    await env.client.create_payment(request)
    start = len(env.exchanges)
    with pytest.raises(ConflictError):
        await env.client.create_payment(request.model_copy(update={"amount": usd("30.00")}))
    answer = json.loads(env.exchanges[start].response.content)
    assert answer["code"] == "A0011"
    # The original order is untouched.
    found = await env.client.inquire_payment(PaymentRef(idempotency_key=request.idempotency_key))
    assert found.amount == usd("25.00")


async def test_same_subscription_key_with_another_amount_is_a_conflict(env: WaffoEnv) -> None:
    request = WaffoHarness(env).subscription_request(amount=usd("25.00"))
    first = await env.client.create_subscription(request)
    again = await env.client.create_subscription(request)
    assert again.provider_reference == first.provider_reference
    with pytest.raises(ConflictError):
        await env.client.create_subscription(
            request.model_copy(update={"plan": request.plan.model_copy(update={"amount": usd("26.00")})})
        )


async def test_same_refund_request_twice_is_one_refund_on_the_ledger(env: WaffoEnv) -> None:
    payment = await paid_payment(env, "25.00")
    key = WaffoHarness.new_key()
    request = WaffoHarness(env).refund_request(payment, usd("7.00"), key=key)
    first = await env.client.refund(request)
    second = await env.client.refund(request.model_copy(update={"requested_at": now()}))
    assert second.provider_reference == first.provider_reference
    assert second.failure is None
    refunds = await env.ledger(kind="refund", refundRequestId=key)
    assert [(e["amount"], e["acquiringRefundOrderId"]) for e in refunds] == [("7.00", first.provider_reference)]
    all_for_order = await env.ledger(acquiringOrderId=payment.provider_reference or "")
    assert [(e["kind"], e["amount"]) for e in all_for_order] == [("charge", "25.00"), ("refund", "7.00")]


# -- 5. notification retries ----------------------------------------------------------------------


@dataclass
class Delivery:
    attempt: int
    reply: str
    event: Any | None
    error: str | None


class FlakyReceiver:
    """A merchant endpoint that verifies every notification but answers wrongly the first times."""

    WRONG_REPLIES = ("wrong-body", "text-plain", "no-signature", "wrong-key")

    def __init__(self, wrong_key: KeyPair) -> None:
        self.codec = notifications_codec()
        self.wrong_key = wrong_key
        self.deliveries: list[Delivery] = []

    def reply(self, kind: str) -> Response:
        success = self.codec.success_reply()
        if kind == "wrong-body":
            body = b'{"status":"success"}'
            return Response(body, headers={"Content-Type": "application/json", SIGNATURE_HEADER: merchant_sign(body)})
        if kind == "text-plain":
            return Response(
                success.body,
                media_type="text/plain",
                headers={SIGNATURE_HEADER: success.headers[SIGNATURE_HEADER]},
            )
        if kind == "no-signature":
            return Response(success.body, headers={"Content-Type": "application/json"})
        if kind == "wrong-key":
            signature = sign_bytes(success.body, self.wrong_key.private_key)
            return Response(success.body, headers={"Content-Type": "application/json", SIGNATURE_HEADER: signature})
        return starlette_reply(success.status_code, success.headers, success.body)

    async def endpoint(self, request: Request) -> Response:
        body = await request.body()
        attempt = len(self.deliveries) + 1
        kind = self.WRONG_REPLIES[attempt - 1] if attempt <= len(self.WRONG_REPLIES) else "correct"
        try:
            event: Any | None = self.codec.parse_notification(body, dict(request.headers))
            error = None
        except NotificationError as exc:
            event, error = None, str(exc)
        self.deliveries.append(Delivery(attempt, kind, event, error))
        return self.reply(kind)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/notify", self.endpoint, methods=["POST"])])


@pytest.fixture
def flaky_receiver(other_keys: KeyPair) -> FlakyReceiver:
    return FlakyReceiver(other_keys)


async def test_notifications_are_retried_until_the_reply_is_exactly_right(
    env: WaffoEnv, flaky_receiver: FlakyReceiver
) -> None:
    server = AppServer(flaky_receiver.app())
    await server.start()
    try:
        notify_url = f"{server.url}/notify"
        request = payment_request(env, "25.00", notify_url=notify_url)
        created = await env.client.create_payment(request)
        await env.act(f"/orders/{created.provider_reference}/pay")
        await env.drain()

        document = (await env.control.get("/notifications")).json()
        ours = [n for n in document["notifications"] if n["url"] == notify_url]
        assert [(n["eventType"], n["status"], n["attempts"]) for n in ours] == [
            ("PAYMENT_NOTIFICATION", "delivered", 5)
        ]
        attempts = [e for e in document["entries"] if e["notificationId"] == ours[0]["id"]]
        assert [(e["attempt"], e["accepted"]) for e in attempts] == [
            (1, False),
            (2, False),
            (3, False),
            (4, False),
            (5, True),
        ]
        reasons = [e["reason"] for e in attempts]
        assert 'not exactly {"message":"success"}' in reasons[0]
        assert "Content-Type" in reasons[1] and "text/plain" in reasons[1]
        assert "no X-SIGNATURE" in reasons[2]
        assert "does not verify" in reasons[3]
        assert reasons[4] is None
        assert attempts[4]["replyBody"] == SUCCESS_REPLY_BODY.decode()

        # Nothing more arrives once the reply was accepted.
        await asyncio.sleep(0.2)
        assert [d.reply for d in flaky_receiver.deliveries] == [*FlakyReceiver.WRONG_REPLIES, "correct"]

        # Every delivery verified and parsed into the same payment statement.
        assert all(d.error is None for d in flaky_receiver.deliveries)
        events = [d.event for d in flaky_receiver.deliveries if isinstance(d.event, PaymentEvent)]
        assert len(events) == len(flaky_receiver.deliveries)
        assert len({e.event_key for e in events}) == 1
        outcome = events[0].outcome
        assert outcome.status is PaymentStatus.SUCCEEDED
        assert outcome.provider_reference == created.provider_reference
        assert outcome.idempotency_key == request.idempotency_key
        assert outcome.amount == usd("25.00")
    finally:
        await server.stop()


async def test_acknowledged_notifications_are_delivered_once_and_parse(env: WaffoEnv) -> None:
    """With a correct receiver every event is delivered at the first attempt; refunds parse too."""
    start = len(env.receiver.received)
    payment = await paid_payment(env, "25.00")
    key = WaffoHarness.new_key()
    await env.client.refund(WaffoHarness(env).refund_request(payment, usd("5.00"), key=key))
    await env.drain()
    received = env.receiver.received[start:]
    assert all(r.error is None for r in received)
    ours = [
        r.event
        for r in received
        if (isinstance(r.event, PaymentEvent) and r.event.outcome.provider_reference == payment.provider_reference)
        or (isinstance(r.event, RefundEvent) and r.event.outcome.idempotency_key == key)
    ]
    assert [type(e).__name__ for e in ours] == ["PaymentEvent", "RefundEvent"]
    assert ours[0].outcome.status is PaymentStatus.SUCCEEDED
    assert ours[1].outcome.status is RefundStatus.SUCCEEDED
    document = (await env.control.get("/notifications")).json()
    delivered = [n for n in document["notifications"] if n["url"] == env.notify_url]
    assert delivered and all((n["status"], n["attempts"]) == ("delivered", 1) for n in delivered)


# -- the answer is about the object we asked for (issue #13.2) ----------------------------------


async def test_an_inquiry_answer_about_another_order_is_no_answer(env: WaffoEnv) -> None:
    created = await env.client.create_payment(payment_request(env))
    await env.fault("order/inquiry", "other_object")
    with pytest.raises(AnswerMismatchError) as caught:
        await env.client.inquire_payment(ref(created))
    assert caught.value.field == "paymentRequestId"
    assert (await env.client.inquire_payment(ref(created))).idempotency_key == created.idempotency_key


async def test_a_refund_inquiry_answer_about_another_refund_is_no_answer(env: WaffoEnv) -> None:
    payment = await paid_payment(env, "25.00")
    key = WaffoHarness.new_key()
    await env.client.refund(WaffoHarness(env).refund_request(payment, usd("5.50"), key=key))
    await env.fault("refund/inquiry", "other_object")
    with pytest.raises(AnswerMismatchError):
        await env.client.inquire_refund(RefundRef(idempotency_key=key, currency="USD"))
    stated_otherwise = RefundRef(idempotency_key=key, currency="USD", amount=usd("5.49"))
    with pytest.raises(AnswerMismatchError) as caught:
        await env.client.inquire_refund(stated_otherwise)
    assert caught.value.field == "refundAmount"


@pytest.mark.parametrize("operation", ["order/create", "order/cancel", "order/refund"])
async def test_a_write_answer_about_another_object_is_no_answer(env: WaffoEnv, operation: str) -> None:
    harness = WaffoHarness(env)
    if operation == "order/create":
        await env.fault(operation, "other_object")
        with pytest.raises(AnswerMismatchError):
            await env.client.create_payment(payment_request(env))
        return
    if operation == "order/refund":
        payment = await paid_payment(env, "25.00")
    else:
        payment = await env.client.create_payment(payment_request(env))
    await env.fault(operation, "other_object")
    call = (
        env.client.refund(harness.refund_request(payment, usd("5.00"), key=WaffoHarness.new_key()))
        if operation == "order/refund"
        else env.client.cancel_payment(CancelPayment(payment=ref(payment), requested_at=now()))
    )
    with pytest.raises(AnswerMismatchError):
        await call


async def test_a_subscription_inquiry_answer_about_another_subscription_is_no_answer(env: WaffoEnv) -> None:
    harness = WaffoHarness(env)
    created = await env.client.create_subscription(harness.subscription_request(amount=usd("25.00")))
    await env.fault("subscription/inquiry", "other_object")
    with pytest.raises(AnswerMismatchError):
        await env.client.inquire_subscription(sub_ref(created))


async def test_a_change_inquiry_answer_about_another_change_is_no_answer(env: WaffoEnv) -> None:
    original = await paid_subscription(env)
    change = change_request(env, original, "15.00")
    change_key = change.idempotency_key
    await env.client.change_subscription(change)
    await env.fault("subscription/change/inquiry", "other_object")
    with pytest.raises(AnswerMismatchError):
        await env.client.inquire_subscription_change(
            InquireSubscriptionChange(idempotency_key=change_key, original=sub_ref(original))
        )
