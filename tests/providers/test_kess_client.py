"""KessClient against the KESS emulator over real HTTP (uvicorn on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from billing.errors import (
    AnswerMismatchError,
    ConfigurationError,
    ConflictError,
    InputError,
    NotFoundError,
    OutcomeUnknownError,
    ProviderConnectionError,
    ProviderServerError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    UnsupportedOperationError,
)
from billing.money import Money
from emulators.kess import KessEmulator, KessEmulatorConfig, create_app
from host.serving import AppServer
from providers.base import (
    CancelPayment,
    CreatePayment,
    CreateRefund,
    Customer,
    CustomerActionKind,
    FailureCategory,
    PaymentProvider,
    PaymentRef,
    PaymentStatus,
    RefundRef,
    RefundStatus,
    SubscriptionRef,
)
from providers.kess import KessClient, KessSettings, parse_payment_method
from providers.kess.transform import PayMethod

USER, PASSWORD, STORE_ID = "kess-user", "kess-password", "109038"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
USD_10 = Money(amount_minor=1000, currency="USD")


class Kess:
    """One emulator served on loopback, a client for it, and its control API."""

    def __init__(self, emulator: KessEmulator, server: AppServer, client: KessClient, http: httpx.AsyncClient) -> None:
        self.emulator, self.server, self.client, self.http = emulator, server, client, http

    async def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.http.request(method, f"{self.server.url}/control{path}", json=body)
        assert response.status_code == 200, response.text
        document: dict[str, Any] = response.json()
        return document

    async def fault(self, operation: str, kind: str, **params: Any) -> None:
        await self.control("POST", "/faults", {"operation": operation, "kind": kind, "params": params})


Factory = Callable[..., Awaitable[Kess]]


@pytest.fixture
async def make_kess() -> AsyncIterator[Factory]:
    started: list[Kess] = []

    async def make(*, settings: dict[str, Any] | None = None, **config: Any) -> Kess:
        config.setdefault("time_scale", 0.01)
        config.setdefault("sweep_interval_s", 0.02)
        emulator = KessEmulator(KessEmulatorConfig(**config))
        emulator.register_merchant(USER, PASSWORD, store_id=STORE_ID)
        server = AppServer(create_app(emulator))
        await server.start()
        client_settings = KessSettings(
            **{
                "base_url": server.url,
                "user": USER,
                "password": SecretStr(PASSWORD),
                "store_id": STORE_ID,
                **(settings or {}),
            }
        )
        kess = Kess(emulator, server, KessClient(client_settings), httpx.AsyncClient())
        started.append(kess)
        return kess

    yield make
    for kess in started:
        await kess.client.aclose()
        await kess.http.aclose()
        await kess.server.stop()


def key(prefix: str = "o") -> str:
    return (prefix + uuid.uuid4().hex)[:32]


def create(
    payment_method: str | None = None, amount: Money = USD_10, idempotency_key: str | None = None
) -> CreatePayment:
    return CreatePayment(
        idempotency_key=idempotency_key or key(),
        merchant_order_id="ORD-1",
        amount=amount,
        description="Coffee",
        customer=Customer(customer_id="c-1"),
        payment_method=payment_method,
        requested_at=NOW,
    )


def ref(request: CreatePayment) -> PaymentRef:
    return PaymentRef(idempotency_key=request.idempotency_key)


async def poll(
    client: KessClient, payment: PaymentRef, *, every_s: float = 0.03, within_s: float = 1.0
) -> PaymentStatus:
    """What the workflow does without webhooks: inquire every few seconds until final or out of time."""
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        outcome = await client.inquire_payment(payment)
        if outcome.status is not PaymentStatus.PENDING or asyncio.get_running_loop().time() > deadline:
            return outcome.status
        await asyncio.sleep(every_s)


# -- construction and tokens --------------------------------------------------------------------


async def test_is_a_payment_provider_without_secrets_in_repr(make_kess: Factory) -> None:
    kess = await make_kess()
    provider: PaymentProvider = kess.client
    assert isinstance(provider, PaymentProvider)
    assert kess.client.name == "kess"
    caps = kess.client.capabilities
    assert (caps.webhooks, caps.payment_inquiry, caps.partial_refund, caps.manual_capture) == (False, True, True, False)
    assert not caps.native_subscriptions
    assert PASSWORD not in repr(kess.client)
    with pytest.raises(UnsupportedOperationError):
        await kess.client.inquire_subscription(SubscriptionRef(idempotency_key="s1"))


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BILLING_KESS_USER", "u")
    monkeypatch.setenv("BILLING_KESS_PASSWORD", "p")
    monkeypatch.setenv("BILLING_KESS_STORE_ID", "42")
    monkeypatch.setenv("BILLING_KESS_FEE_RATE", "2.5")
    settings = KessSettings()
    assert settings.fee_rate == Decimal("2.5")
    assert "p" not in repr(settings.password)
    assert settings.configured()
    with pytest.raises(ConfigurationError, match="BILLING_KESS_QUICK_PAY_TIMEOUT"):
        KessClient(settings.model_copy(update={"quick_pay_timeout": 30.0}))
    with pytest.raises(ConfigurationError, match="BILLING_KESS_STORE_ID"):
        KessClient(settings.model_copy(update={"store_id": None}))


async def test_a_fresh_token_is_fetched_before_every_request_by_default(make_kess: Factory) -> None:
    # Seed 004: "Get API token before every requests." The emulator's default takes each token once.
    kess = await make_kess()
    request = create()
    await kess.client.create_payment(request)
    await kess.client.inquire_payment(ref(request))
    assert (await kess.client.inquire_payment(ref(request))).status is PaymentStatus.PENDING
    assert kess.client.token_fetches == 3
    assert (await kess.control("GET", "/tokens"))["tokensIssued"] == 3


async def test_token_reuse_setting_against_single_use_tokens_renews_on_401(make_kess: Factory) -> None:
    kess = await make_kess(time_scale=1.0, settings={"token_reuse_s": 45.0})
    request = create()
    await kess.client.create_payment(request)
    assert (await kess.client.inquire_payment(ref(request))).status is PaymentStatus.PENDING
    assert kess.client.token_fetches == 2, "the reused token was refused (401) and a fresh one fetched"


async def test_token_is_reused_then_renewed_when_it_ages(make_kess: Factory) -> None:
    # tokens live 60 s x 0.01 = 0.6 s; with reuse on, the client reuses them for 80 %
    kess = await make_kess(token_use="until_expiry", settings={"token_reuse_s": 45.0})
    request = create()
    await kess.client.create_payment(request)
    await kess.client.inquire_payment(ref(request))
    assert kess.client.token_fetches == 1
    # KESS's clock goes back a minute: it would take the first token for a minute more, so a second fetch
    # is the client renewing an aging token (after 0.48 s of its own time), never an answer to a 401.
    kess.emulator.clock.advance(-60)
    deadline = asyncio.get_running_loop().time() + 5.0
    while kess.client.token_fetches == 1 and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
        assert (await kess.client.inquire_payment(ref(request))).status is PaymentStatus.PENDING
    assert kess.client.token_fetches == 2
    assert (await kess.control("GET", "/tokens"))["tokensIssued"] == 2


async def test_expired_token_is_renewed_transparently_on_401(make_kess: Factory) -> None:
    kess = await make_kess(time_scale=1.0, token_use="until_expiry", settings={"token_reuse_s": 45.0})
    request = create()
    await kess.client.create_payment(request)
    await kess.control("POST", "/tokens/expire")
    outcome = await kess.client.inquire_payment(ref(request))
    assert outcome.status is PaymentStatus.PENDING
    assert kess.client.token_fetches == 2
    assert (await kess.control("GET", "/tokens"))["tokensIssued"] == 2


async def test_wrong_password_is_a_configuration_error(make_kess: Factory) -> None:
    kess = await make_kess(settings={"password": SecretStr("wrong")})
    with pytest.raises(ConfigurationError, match="BILLING_KESS_PASSWORD") as caught:
        await kess.client.create_payment(create())
    assert "wrong" not in str(caught.value)


# -- native pay ---------------------------------------------------------------------------------


async def test_native_pay_paid_found_by_polling_with_fee(make_kess: Factory) -> None:
    kess = await make_kess(settings={"fee_rate": Decimal(2)})
    request = create()
    outcome = await kess.client.create_payment(request)
    assert outcome.status is PaymentStatus.PENDING
    assert outcome.customer_action is not None
    assert outcome.customer_action.kind is CustomerActionKind.QR
    assert (outcome.customer_action.qr or "").startswith("weixin://wxpay/bizpayurl?pr=")
    assert outcome.amount == USD_10
    assert outcome.paid_amount == Money(amount_minor=1020, currency="USD")

    await kess.control("POST", f"/orders/{request.idempotency_key}/pay")
    assert await poll(kess.client, ref(request)) is PaymentStatus.SUCCEEDED
    paid = await kess.client.inquire_payment(ref(request))
    assert (paid.amount, paid.paid_amount) == (USD_10, Money(amount_minor=1020, currency="USD"))
    assert paid.provider_reference == outcome.provider_reference
    assert paid.completed_at is not None
    # Idempotent replay of the creation: same order, now paid.
    replay = await kess.client.create_payment(request)
    assert replay.status is PaymentStatus.SUCCEEDED
    ledger = await kess.control("GET", "/ledger")
    assert [(e["kind"], e["amount"]) for e in ledger["entries"]] == [("charge", "10.20")]


async def test_native_pay_alipay(make_kess: Factory) -> None:
    kess = await make_kess()
    outcome = await kess.client.create_payment(create("NATIVE:ALIPAY"))
    assert outcome.customer_action is not None
    assert (outcome.customer_action.qr or "").startswith("https://qr.alipay.com/")


async def test_native_pay_expired_then_closed_and_confirmed(make_kess: Factory) -> None:
    kess = await make_kess(close_endpoint=True, settings={"supports_close": True})
    expired = create()
    await kess.client.create_payment(expired)
    await kess.control("POST", f"/orders/{expired.idempotency_key}/expire")
    assert (await kess.client.inquire_payment(ref(expired))).status is PaymentStatus.CLOSED

    closed = create()
    await kess.client.create_payment(closed)
    outcome = await kess.client.cancel_payment(CancelPayment(payment=ref(closed), requested_at=NOW))
    assert outcome.status is PaymentStatus.CLOSED
    assert outcome.provider_status == "CLOSED"
    assert (await kess.client.inquire_payment(ref(closed))).status is PaymentStatus.CLOSED
    # Closing again is harmless.
    again = await kess.client.cancel_payment(CancelPayment(payment=ref(closed), requested_at=NOW))
    assert again.status is PaymentStatus.CLOSED


async def test_payment_that_raced_the_close(make_kess: Factory) -> None:
    kess = await make_kess(close_endpoint=True, settings={"supports_close": True})
    request = create()
    await kess.client.create_payment(request)
    await kess.control("POST", f"/orders/{request.idempotency_key}/pay")  # the buyer was faster
    outcome = await kess.client.cancel_payment(CancelPayment(payment=ref(request), requested_at=NOW))
    assert outcome.status is PaymentStatus.SUCCEEDED
    assert outcome.failure is not None
    assert outcome.failure.code == "ORDERPAID"

    late = create()
    await kess.client.create_payment(late)
    closed = await kess.client.cancel_payment(CancelPayment(payment=ref(late), requested_at=NOW))
    assert closed.status is PaymentStatus.CLOSED
    await kess.control("POST", f"/orders/{late.idempotency_key}/pay", {"late": True})
    assert (await kess.client.inquire_payment(ref(late))).status is PaymentStatus.SUCCEEDED


# -- quick pay and JSAPI ------------------------------------------------------------------------


async def test_quick_pay_instant(make_kess: Factory) -> None:
    kess = await make_kess()
    outcome = await kess.client.create_payment(create("QUICKPAY:134567890123456789"))
    assert outcome.status is PaymentStatus.SUCCEEDED
    assert outcome.customer_action is None
    assert outcome.provider_reference


async def test_quick_pay_blocks_through_userpaying(make_kess: Factory) -> None:
    kess = await make_kess()
    outcome = await kess.client.create_payment(create("QUICKPAY:140012345678901234"))
    assert outcome.status is PaymentStatus.SUCCEEDED


async def test_quick_pay_userpaying_then_paid_by_polling(make_kess: Factory) -> None:
    kess = await make_kess(quick_pay_hold_s=0)
    request = create("QUICKPAY:ALIPAY:140012345678901234")
    outcome = await kess.client.create_payment(request)
    assert outcome.status is PaymentStatus.PENDING
    assert outcome.provider_status == "USERPAYING"
    assert outcome.failure is None
    assert await poll(kess.client, ref(request)) is PaymentStatus.SUCCEEDED


async def test_quick_pay_timed_out_is_revoked_and_confirmed(make_kess: Factory) -> None:
    kess = await make_kess(close_endpoint=True, settings={"supports_close": True})
    request = create("QUICKPAY:140112345678901234")
    outcome = await kess.client.create_payment(request)  # held 40 s x 0.01, still USERPAYING
    assert outcome.status is PaymentStatus.PENDING
    # The workflow polls up to 45 s, then closes (revokes) and confirms: KESS's clock moves past the 45 s.
    await kess.control("POST", "/clock/advance", {"seconds": 0.1})
    cancelled = await kess.client.cancel_payment(CancelPayment(payment=ref(request), requested_at=NOW))
    assert cancelled.status is PaymentStatus.CLOSED
    assert cancelled.provider_status == "REVOKED"
    assert (await kess.client.inquire_payment(ref(request))).status is PaymentStatus.CLOSED


@pytest.mark.parametrize(
    ("auth_code", "code"), [("140212345678901234", "AUTHCODEEXPIRE"), ("140312345678901234", "NOTENOUGH")]
)
async def test_quick_pay_declines_are_values(make_kess: Factory, auth_code: str, code: str) -> None:
    kess = await make_kess()
    request = create(f"QUICKPAY:{auth_code}")
    outcome = await kess.client.create_payment(request)
    assert outcome.status is PaymentStatus.DECLINED
    assert outcome.failure is not None
    assert (outcome.failure.code, outcome.failure.category, outcome.failure.hard) == (
        code,
        FailureCategory.CUSTOMER,
        False,
    )
    assert (await kess.client.inquire_payment(ref(request))).status is PaymentStatus.DECLINED


async def test_jsapi_pay_waits_for_the_wallet(make_kess: Factory) -> None:
    kess = await make_kess()
    request = create("JSAPI:openid-abc")
    outcome = await kess.client.create_payment(request)
    assert outcome.status is PaymentStatus.PENDING
    assert outcome.customer_action is not None
    assert outcome.customer_action.kind is CustomerActionKind.WALLET_PUSH
    await kess.control("POST", f"/orders/{request.idempotency_key}/pay")
    assert await poll(kess.client, ref(request)) is PaymentStatus.SUCCEEDED


def test_payment_method_convention() -> None:
    assert parse_payment_method(None, default_wallet="WECHAT").method is PayMethod.NATIVE
    assert parse_payment_method("ALIPAY", default_wallet="WECHAT").wallet == "ALIPAY"
    quick = parse_payment_method("QUICKPAY:280012345678901234", default_wallet="WECHAT")
    assert (quick.method, quick.wallet, quick.auth_code) == (PayMethod.QUICK, "ALIPAY", "280012345678901234")
    with pytest.raises(InputError, match="payment_method"):
        parse_payment_method("CARD", default_wallet="WECHAT")


# -- refunds ------------------------------------------------------------------------------------


async def test_partial_then_full_refund(make_kess: Factory) -> None:
    kess = await make_kess(settings={"fee_rate": Decimal(2)}, refund_status_by="out_refund_no")
    request = create("QUICKPAY:134567890123456789")
    await kess.client.create_payment(request)

    def refund(amount_minor: int, refund_key: str) -> CreateRefund:
        return CreateRefund(
            idempotency_key=refund_key,
            payment=ref(request),
            amount=Money(amount_minor=amount_minor, currency="USD"),
            reason="customer request",
            requested_at=NOW,
        )

    first_key, second_key = key("r"), key("r")
    first = await kess.client.refund(refund(400, first_key))
    assert first.status is RefundStatus.SUCCEEDED
    assert first.amount == Money(amount_minor=400, currency="USD")
    assert first.remaining_refundable == Money(amount_minor=600, currency="USD")
    assert (await kess.client.refund(refund(400, first_key))).provider_reference == first.provider_reference
    with pytest.raises(ConflictError):
        await kess.client.refund(refund(500, first_key))
    too_much = await kess.client.refund(refund(601, key("r")))
    assert too_much.status is RefundStatus.FAILED
    assert too_much.failure is not None
    assert too_much.failure.code == "INVALID_REQUEST"

    second = await kess.client.refund(refund(600, second_key))
    assert second.status is RefundStatus.SUCCEEDED
    assert second.remaining_refundable == Money.zero("USD")
    inquired = await kess.client.inquire_refund(
        RefundRef(idempotency_key=first_key, currency="USD", payment_idempotency_key=request.idempotency_key)
    )
    assert (inquired.status, inquired.amount) == (RefundStatus.SUCCEEDED, Money(amount_minor=400, currency="USD"))
    with pytest.raises(NotFoundError):
        await kess.client.inquire_refund(
            RefundRef(idempotency_key=key("r"), payment_idempotency_key=request.idempotency_key)
        )
    # Refunded orders still read as paid.
    assert (await kess.client.inquire_payment(ref(request))).status is PaymentStatus.SUCCEEDED
    ledger = await kess.control("GET", "/ledger")
    assert [(e["kind"], e["amount"]) for e in ledger["entries"]] == [
        ("charge", "10.20"),
        ("refund", "4.08"),
        ("refund", "6.12"),
    ]


async def test_refund_processing_then_succeeded(make_kess: Factory) -> None:
    kess = await make_kess(refund_delay_s=None)
    request = create("QUICKPAY:134567890123456789")
    await kess.client.create_payment(request)
    refund_key = key("r")
    outcome = await kess.client.refund(
        CreateRefund(idempotency_key=refund_key, payment=ref(request), amount=USD_10, requested_at=NOW)
    )
    assert outcome.status is RefundStatus.PENDING
    await kess.control("POST", f"/refunds/{refund_key}/succeed")
    inquiry = RefundRef(idempotency_key=refund_key, payment_idempotency_key=request.idempotency_key)
    assert (await kess.client.inquire_refund(inquiry)).status is RefundStatus.SUCCEEDED


# -- classification -----------------------------------------------------------------------------


async def test_out_trade_no_reused_with_other_parameters_is_a_conflict(make_kess: Factory) -> None:
    kess = await make_kess()
    request = create()
    await kess.client.create_payment(request)
    with pytest.raises(ConflictError):
        await kess.client.create_payment(
            request.model_copy(update={"amount": Money(amount_minor=1100, currency="USD")})
        )


async def test_unknown_payment_is_not_found(make_kess: Factory) -> None:
    kess = await make_kess()
    with pytest.raises(NotFoundError):
        await kess.client.inquire_payment(PaymentRef(idempotency_key=key()))


async def test_wrong_currency_is_refused_before_sending(make_kess: Factory) -> None:
    kess = await make_kess()
    with pytest.raises(InputError, match="amount"):
        await kess.client.create_payment(create(amount=Money(amount_minor=1000, currency="EUR")))


@pytest.mark.parametrize(
    ("kind", "params", "error"),
    [
        ("http_500", {}, ProviderServerError),
        ("system_error", {}, ProviderServerError),
        ("drop_connection", {}, ProviderConnectionError),
        ("timeout_after_commit", {"ms": 2000}, ProviderTimeoutError),
    ],
)
async def test_unknown_outcomes_then_reconciled_by_inquiry(
    make_kess: Factory, kind: str, params: dict[str, Any], error: type[OutcomeUnknownError]
) -> None:
    kess = await make_kess(settings={"read_timeout": 0.3})
    await kess.fault("native_pay", kind, **params)
    request = create()
    with pytest.raises(error):
        await kess.client.create_payment(request)
    if kind == "http_500":
        # Nothing was handled: the inquiry says so.
        with pytest.raises(NotFoundError):
            await kess.client.inquire_payment(ref(request))
    else:
        assert (await kess.client.inquire_payment(ref(request))).status is PaymentStatus.PENDING
    # Retrying with the same out_trade_no is safe.
    assert (await kess.client.create_payment(request)).status is PaymentStatus.PENDING


@pytest.mark.parametrize(("kind", "params"), [("http_500", {}), ("system_error", {}), ("timeout_after_commit", {})])
async def test_token_endpoint_failures_are_transient_and_nothing_is_sent(
    make_kess: Factory, kind: str, params: dict[str, Any]
) -> None:
    kess = await make_kess(settings={"read_timeout": 0.3})
    await kess.fault("token", kind, **params)
    request = create()
    with pytest.raises(ProviderUnavailableError) as info:
        await kess.client.create_payment(request)
    assert "nothing was sent" in str(info.value)
    assert kess.emulator.store.find_order(request.idempotency_key) is None
    # Trying again works: a token failure is never a configuration error.
    assert (await kess.client.create_payment(request)).status is PaymentStatus.PENDING


@pytest.mark.parametrize("status", [401, 200])
async def test_a_refused_token_is_a_configuration_error_and_nothing_is_sent(make_kess: Factory, status: int) -> None:
    kess = await make_kess()
    await kess.fault("token", "refuse_token", status=status)
    request = create()
    with pytest.raises(ConfigurationError):
        await kess.client.create_payment(request)
    assert kess.emulator.store.find_order(request.idempotency_key) is None


async def test_a_refund_whose_payment_check_does_not_conclude_is_not_sent(make_kess: Factory) -> None:
    kess = await make_kess()
    request = create()
    await kess.client.create_payment(request)
    await kess.control("POST", f"/orders/{request.idempotency_key}/pay")
    await kess.fault("payment_status", "http_500")
    refund = CreateRefund(idempotency_key=key("r"), payment=ref(request), amount=USD_10, requested_at=NOW)
    with pytest.raises(ProviderUnavailableError):
        await kess.client.refund(refund)
    assert kess.emulator.store.find_refund(refund.idempotency_key) is None
    assert (await kess.client.refund(refund)).status is RefundStatus.SUCCEEDED


async def test_payment_time_in_kess_local_time_is_read_in_the_configured_zone(make_kess: Factory) -> None:
    # KESS does not document the zone of its naive timestamps. Read as UTC, a Phnom Penh time_end is seven
    # hours later than the payment was: an on-time payment would look late (and be refunded).
    kess = await make_kess(time_zone="Asia/Phnom_Penh", settings={"time_zone": "Asia/Phnom_Penh"})
    request = create()
    await kess.client.create_payment(request)
    await kess.control("POST", f"/orders/{request.idempotency_key}/pay")
    before = datetime.now(UTC)
    paid = await kess.client.inquire_payment(ref(request))
    assert paid.status is PaymentStatus.SUCCEEDED and paid.completed_at is not None
    assert abs((paid.completed_at - before).total_seconds()) < 60


def test_an_unknown_time_zone_is_a_configuration_error() -> None:
    settings = KessSettings(user=USER, password=SecretStr(PASSWORD), store_id=STORE_ID, time_zone="Mars/Olympus")
    with pytest.raises(ConfigurationError, match="BILLING_KESS_TIME_ZONE"):
        KessClient(settings)


# -- refusals inside a success envelope (issue #13.1) -------------------------------------------


@pytest.mark.parametrize("envelope", ["result_code_fail", "success_false"])
async def test_a_quick_pay_refusal_is_a_decline_in_either_envelope(make_kess: Factory, envelope: str) -> None:
    kess = await make_kess(failure_envelope=envelope)
    request = create("QUICKPAY:140312345678901234")
    outcome = await kess.client.create_payment(request)
    assert outcome.status is PaymentStatus.DECLINED, "KESS said FAIL: never paid"
    assert outcome.failure is not None and outcome.failure.code == "NOTENOUGH"


async def test_a_bare_fail_inside_success_is_unknown_then_reconciled(make_kess: Factory) -> None:
    kess = await make_kess(failure_envelope="result_code_fail_bare")
    request = create("QUICKPAY:140312345678901234")
    with pytest.raises(OutcomeUnknownError):
        await kess.client.create_payment(request)
    assert (await kess.client.inquire_payment(ref(request))).status is PaymentStatus.DECLINED


async def test_a_refund_refused_inside_success_is_not_succeeded(make_kess: Factory) -> None:
    kess = await make_kess(failure_envelope="result_code_fail")
    request = create()
    await kess.client.create_payment(request)
    await kess.control("POST", f"/orders/{request.idempotency_key}/pay")
    refund = await kess.client.refund(
        CreateRefund(
            idempotency_key=key("r"),
            payment=ref(request),
            amount=Money(amount_minor=5000, currency="USD"),
            requested_at=NOW,
        )
    )
    assert refund.status is RefundStatus.FAILED, "more than paid: INVALID_REQUEST inside success is a refusal"
    assert refund.failure is not None and refund.failure.code == "INVALID_REQUEST"


# -- the answer is about the object we asked for (issue #13.2) ----------------------------------


def refund_of(request: CreatePayment, refund_key: str, amount_minor: int) -> CreateRefund:
    return CreateRefund(
        idempotency_key=refund_key,
        payment=ref(request),
        amount=Money(amount_minor=amount_minor, currency="USD"),
        requested_at=NOW,
    )


async def test_refund_status_is_asked_by_out_trade_no_and_another_refund_is_no_answer(make_kess: Factory) -> None:
    # Seed 004: CHECK REFUND STATUS takes out_trade_no; the emulator (as the seed) answers the latest refund.
    kess = await make_kess(refund_delay_s=None)
    request = create("QUICKPAY:134567890123456789")
    await kess.client.create_payment(request)
    first, second = key("r"), key("r")
    await kess.client.refund(refund_of(request, first, 300))
    await kess.client.refund(refund_of(request, second, 200))
    await kess.control("POST", f"/refunds/{second}/succeed")
    about_first = RefundRef(
        idempotency_key=first,
        payment_idempotency_key=request.idempotency_key,
        amount=Money(amount_minor=300, currency="USD"),
    )
    with pytest.raises(AnswerMismatchError) as caught:
        await kess.client.inquire_refund(about_first)
    assert (caught.value.field, caught.value.asked, caught.value.answered) == ("out_refund_no", first, second)
    about_second = about_first.model_copy(
        update={"idempotency_key": second, "amount": Money(amount_minor=200, currency="USD")}
    )
    assert (await kess.client.inquire_refund(about_second)).status is RefundStatus.SUCCEEDED


async def test_a_refund_status_stating_another_amount_is_no_answer(make_kess: Factory) -> None:
    kess = await make_kess(refund_delay_s=None)
    request = create("QUICKPAY:134567890123456789")
    await kess.client.create_payment(request)
    refund_key = key("r")
    await kess.client.refund(refund_of(request, refund_key, 300))
    await kess.control("POST", f"/refunds/{refund_key}/succeed")
    wrong_amount = RefundRef(
        idempotency_key=refund_key,
        payment_idempotency_key=request.idempotency_key,
        amount=Money(amount_minor=301, currency="USD"),
    )
    with pytest.raises(AnswerMismatchError):
        await kess.client.inquire_refund(wrong_amount)


@pytest.mark.parametrize("operation", ["payment_status", "native_pay"])
async def test_a_payment_answer_about_another_order_is_no_answer(make_kess: Factory, operation: str) -> None:
    kess = await make_kess()
    request = create()
    if operation != "native_pay":
        await kess.client.create_payment(request)
    await kess.fault(operation, "other_object")
    call = kess.client.inquire_payment(ref(request)) if operation == "payment_status" else None
    with pytest.raises(AnswerMismatchError):
        await (call or kess.client.create_payment(request))


async def test_a_paid_status_of_another_order_is_not_applied(make_kess: Factory) -> None:
    kess = await make_kess()
    paid, unpaid = create(), create()
    await kess.client.create_payment(paid)
    await kess.control("POST", f"/orders/{paid.idempotency_key}/pay")
    await kess.client.create_payment(unpaid)
    await kess.fault("payment_status", "other_object", out_trade_no=paid.idempotency_key)
    with pytest.raises(AnswerMismatchError):
        await kess.client.inquire_payment(ref(unpaid))
    assert (await kess.client.inquire_payment(ref(unpaid))).status is PaymentStatus.PENDING


async def test_a_refund_answer_about_another_refund_is_no_answer(make_kess: Factory) -> None:
    kess = await make_kess()
    request = create("QUICKPAY:134567890123456789")
    await kess.client.create_payment(request)
    await kess.fault("refund", "other_object")
    with pytest.raises(AnswerMismatchError):
        await kess.client.refund(refund_of(request, key("r"), 300))


# -- native pay's auth_code (issue #13.4) ---------------------------------------------------------


async def test_native_pay_sends_the_configured_auth_code(make_kess: Factory) -> None:
    # Seed 004's NATIVE PAY sample carries auth_code; with native_auth_code="required" the emulator insists.
    kess = await make_kess(native_auth_code="required", settings={"native_auth_code": "284957"})
    outcome = await kess.client.create_payment(create("NATIVE:WECHAT"))
    assert outcome.status is PaymentStatus.PENDING
    assert outcome.customer_action is not None and outcome.customer_action.qr


async def test_native_pay_without_an_auth_code_where_one_is_required_is_refused(make_kess: Factory) -> None:
    kess = await make_kess(native_auth_code="required")
    outcome = await kess.client.create_payment(create("NATIVE:WECHAT"))
    assert outcome.status is PaymentStatus.DECLINED
    assert outcome.failure is not None and outcome.failure.code == "PARAM_ERROR"


# -- close is not in seed 004 (issue #13.3) ---------------------------------------------------------


async def test_without_close_nothing_is_sent_and_the_capability_says_so(make_kess: Factory) -> None:
    kess = await make_kess()
    assert kess.client.capabilities.cancel_payment is False
    request = create()
    await kess.client.create_payment(request)
    fetched = kess.client.token_fetches
    with pytest.raises(UnsupportedOperationError):
        await kess.client.cancel_payment(CancelPayment(payment=ref(request), requested_at=NOW))
    assert kess.client.token_fetches == fetched, "not even a token: nothing was sent"
    assert (await kess.control("GET", f"/orders/{request.idempotency_key}"))["trade_state"] == "NOTPAY"


async def test_the_emulator_answers_close_as_an_unknown_path_unless_configured(make_kess: Factory) -> None:
    kess = await make_kess(settings={"supports_close": True})  # a client told to close, a KESS without one
    request = create()
    await kess.client.create_payment(request)
    with pytest.raises(OutcomeUnknownError):
        await kess.client.cancel_payment(CancelPayment(payment=ref(request), requested_at=NOW))
    assert (await kess.control("GET", f"/orders/{request.idempotency_key}"))["trade_state"] == "NOTPAY"


@pytest.mark.parametrize(("method", "window_s"), [(None, 7200), ("QUICKPAY:134567890123456789", 45)])
async def test_a_pay_answer_says_until_when_the_buyer_may_pay(
    make_kess: Factory, method: str | None, window_s: int
) -> None:
    kess = await make_kess()
    outcome = await kess.client.create_payment(create(method))
    assert outcome.payable_until == NOW + timedelta(seconds=window_s)


# -- JSON types of ids (seed 004 prints store_id as text in the pay bodies, a number in the status checks) --


async def test_a_kess_holding_to_the_seeds_id_types_refuses_a_text_auth_code_and_nothing_is_charged(
    make_kess: Factory,
) -> None:
    # Worst case of id_types="as_seed": the buyer's code must be a JSON number, as the samples print it. Our
    # default (a string) is refused, naming the field, before any money moves; the setting sends a number.
    kess = await make_kess(id_types="as_seed", settings={"sub_store_id": "12345"})
    refused = await kess.client.create_payment(create("QUICKPAY:134567890123456789"))
    assert refused.status is PaymentStatus.DECLINED
    assert refused.failure is not None and refused.failure.code == "PARAM_ERROR"
    assert "auth_code" in refused.failure.message
    assert (await kess.control("GET", "/ledger"))["entries"] == []

    # Native pay and the status check (store_id a number there) pass as they are.
    native = create()
    assert (await kess.client.create_payment(native)).status is PaymentStatus.PENDING
    assert (await kess.client.inquire_payment(ref(native))).status is PaymentStatus.PENDING

    kess = await make_kess(id_types="as_seed", settings={"auth_code_as_number": True, "sub_store_id": "12345"})
    paid = await kess.client.create_payment(create("QUICKPAY:134567890123456789"))
    assert paid.status is PaymentStatus.SUCCEEDED


async def test_a_kess_wanting_every_id_as_text_refuses_the_seeds_numeric_store_id_until_configured(
    make_kess: Factory,
) -> None:
    # Worst case of id_types="text": the status check's numeric store_id (as seed 004 prints it) is refused.
    # The refusal never concludes anything about the order; ids_as_text sends strings everywhere.
    kess = await make_kess(id_types="text")
    request = create()
    await kess.client.create_payment(request)
    await kess.control("POST", f"/orders/{request.idempotency_key}/pay")
    refused = await kess.client.inquire_payment(ref(request))
    assert refused.status is PaymentStatus.PENDING
    assert refused.failure is not None and refused.failure.code == "PARAM_ERROR"
    assert "store_id" in refused.failure.message

    kess = await make_kess(id_types="text", settings={"ids_as_text": True, "sub_store_id": "12345"})
    request = create("QUICKPAY:134567890123456789")
    assert (await kess.client.create_payment(request)).status is PaymentStatus.SUCCEEDED
    assert (await kess.client.inquire_payment(ref(request))).status is PaymentStatus.SUCCEEDED
