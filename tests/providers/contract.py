"""The payment-provider contract: behaviour every :class:`PaymentProvider` shows against its emulator.

The tests are written only against the normalized protocol (``providers.base``) and a small
:class:`ProviderHarness` that knows the provider-specific parts: how the customer pays or fails, which
amount the provider declines, where the money ledger is, and how to make the next answer get lost.

A provider plugs in from its own test module::

    class TestAcmeContract(PaymentProviderContract):
        @pytest.fixture
        def harness(self, acme_env) -> ProviderHarness:
            return AcmeHarness(acme_env)

Operations a provider does not offer are skipped by its ``capabilities``; harness hooks a provider's
emulator cannot drive skip the tests that need them.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

import pytest

from billing.errors import ConflictError, NotFoundError, OutcomeUnknownError
from billing.money import Money
from providers.base import (
    FINAL_PAYMENT_STATUSES,
    BillingInterval,
    CancelledBy,
    CancelPayment,
    CancelSubscription,
    CaptureMode,
    CapturePayment,
    CreatePayment,
    CreateRefund,
    CreateSubscription,
    Customer,
    ManageSubscription,
    PaymentOutcome,
    PaymentProvider,
    PaymentRef,
    PaymentStatus,
    RefundRef,
    RefundStatus,
    SubscriptionOutcome,
    SubscriptionPlan,
    SubscriptionRef,
    SubscriptionStatus,
)


class AnswerFault(StrEnum):
    """Ways the answer to a call can be lost after the provider committed the change (or not)."""

    #: The change is committed, the answer comes after the client gave up.
    TIMEOUT = "timeout"
    #: The provider answers "status unknown" (a 5xx or an unknown-status code).
    UNKNOWN_STATUS = "unknown_status"
    #: The connection breaks in the middle of the answer.
    DROPPED = "dropped"
    #: The answer arrives but cannot be verified (bad signature).
    UNVERIFIABLE = "unverifiable"
    #: A gateway-style 5xx before the provider handled anything.
    GATEWAY_ERROR = "gateway_error"


@dataclass(frozen=True)
class Movement:
    """One money movement in the emulator's ledger: charge, authorization, capture, refund or void."""

    kind: str
    amount: Money


class ProviderHarness(ABC):
    """What the contract needs to know about one provider and its emulator."""

    #: The client under test, talking to the emulator over HTTP.
    provider: PaymentProvider
    currency: str
    #: Where the provider delivers notifications (an acknowledging receiver).
    notify_url: str
    customer: Customer = Customer(customer_id="contract-customer", email="payer@example.com")

    # -- amounts and keys -------------------------------------------------------------------------

    def money(self, units: int) -> Money:
        """``units`` whole units of the harness currency (no magic amounts below 10)."""
        return Money.parse(str(units), self.currency)

    @property
    def decline_amount(self) -> Money | None:
        """An amount the provider refuses at once; None when the emulator has no such amount."""
        return None

    @staticmethod
    def new_key() -> str:
        return uuid.uuid4().hex

    # -- request builders -------------------------------------------------------------------------

    def payment_request(
        self,
        *,
        key: str | None = None,
        amount: Money | None = None,
        capture_mode: CaptureMode = CaptureMode.AUTOMATIC,
    ) -> CreatePayment:
        key = key or self.new_key()
        return CreatePayment(
            idempotency_key=key,
            merchant_order_id=f"ORD-{key[:12]}",
            amount=amount or self.money(25),
            description="Contract test order",
            customer=self.customer,
            capture_mode=capture_mode,
            notify_url=self.notify_url,
            requested_at=datetime.now(UTC),
        )

    def refund_request(self, payment: PaymentOutcome, amount: Money, *, key: str | None = None) -> CreateRefund:
        assert payment.idempotency_key is not None
        return CreateRefund(
            idempotency_key=key or self.new_key(),
            payment=PaymentRef(idempotency_key=payment.idempotency_key, provider_reference=payment.provider_reference),
            amount=amount,
            reason="contract test refund",
            notify_url=self.notify_url,
            requested_at=datetime.now(UTC),
        )

    def subscription_request(self, *, key: str | None = None, amount: Money | None = None) -> CreateSubscription:
        key = key or self.new_key()
        return CreateSubscription(
            idempotency_key=key,
            merchant_subscription_id=f"SUB-{key[:12]}",
            plan=SubscriptionPlan(
                plan_id="contract-monthly",
                description="Contract monthly plan",
                amount=amount or self.money(25),
                interval=BillingInterval.MONTH,
                periods=12,
            ),
            customer=self.customer,
            notify_url=self.notify_url,
            requested_at=datetime.now(UTC),
        )

    # -- the customer and the provider's own side -------------------------------------------------

    @abstractmethod
    async def customer_pays(self, payment: PaymentOutcome) -> None:
        """The customer completes the payment (hosted checkout, wallet approval...)."""

    @abstractmethod
    async def customer_fails(self, payment: PaymentOutcome) -> None:
        """The customer's payment attempt is refused (insufficient balance, wrong PIN...)."""

    async def customer_authorizes_subscription(self, subscription: SubscriptionOutcome) -> None:
        pytest.skip("this harness cannot authorize a subscription")

    async def settle(self) -> None:
        """Let asynchronous completions (refunds, captures) finish. Default: nothing to wait for."""
        return None

    @abstractmethod
    async def movements(self, provider_reference: str) -> list[Movement]:
        """Money movements the emulator's ledger holds for one payment, in order."""

    async def lose_next_answer(self, operation: str, fault: AnswerFault) -> PaymentProvider:
        """Arrange for the next ``operation`` answer to be lost; return the client to call it with.

        ``operation`` is a protocol method name (``create_payment``, ``refund``...).
        """
        pytest.skip(f"this harness cannot inject {fault}")


def _ref(outcome: PaymentOutcome) -> PaymentRef:
    assert outcome.idempotency_key is not None
    return PaymentRef(idempotency_key=outcome.idempotency_key, provider_reference=outcome.provider_reference)


def _sub_ref(outcome: SubscriptionOutcome) -> SubscriptionRef:
    assert outcome.idempotency_key is not None
    return SubscriptionRef(idempotency_key=outcome.idempotency_key, provider_reference=outcome.provider_reference)


def _requires(harness: ProviderHarness, *capabilities: str) -> None:
    missing = [name for name in capabilities if not getattr(harness.provider.capabilities, name)]
    if missing:
        pytest.skip(f"{harness.provider.name} lacks {', '.join(missing)}")


class PaymentProviderContract:
    """Behavioural tests every provider passes; subclass it as ``Test<Provider>Contract``."""

    @pytest.fixture
    def harness(self) -> ProviderHarness:  # pragma: no cover - every provider overrides it
        raise NotImplementedError("define a harness fixture in the provider's test class")

    # -- payments ---------------------------------------------------------------------------------

    async def test_create_is_pending_with_references(self, harness: ProviderHarness) -> None:
        request = harness.payment_request()
        outcome = await harness.provider.create_payment(request)
        assert outcome.status is PaymentStatus.PENDING
        assert outcome.idempotency_key == request.idempotency_key
        assert outcome.provider_reference
        assert outcome.merchant_reference == request.merchant_order_id
        assert outcome.amount == request.amount
        assert outcome.failure is None
        assert await harness.movements(outcome.provider_reference) == []

    async def test_paid_payment_inquires_succeeded(self, harness: ProviderHarness) -> None:
        request = harness.payment_request()
        created = await harness.provider.create_payment(request)
        await harness.customer_pays(created)
        outcome = await harness.provider.inquire_payment(_ref(created))
        assert outcome.status is PaymentStatus.SUCCEEDED
        assert outcome.provider_reference == created.provider_reference
        assert outcome.idempotency_key == request.idempotency_key
        assert outcome.amount == request.amount
        assert outcome.failure is None
        assert created.provider_reference is not None
        assert await harness.movements(created.provider_reference) == [Movement("charge", request.amount)]

    async def test_customer_failure_is_final_without_money(self, harness: ProviderHarness) -> None:
        created = await harness.provider.create_payment(harness.payment_request())
        await harness.customer_fails(created)
        outcome = await harness.provider.inquire_payment(_ref(created))
        assert outcome.status in (PaymentStatus.DECLINED, PaymentStatus.CLOSED)
        assert outcome.status in FINAL_PAYMENT_STATUSES
        assert created.provider_reference is not None
        assert await harness.movements(created.provider_reference) == []

    async def test_decline_amount_is_a_declined_value(self, harness: ProviderHarness) -> None:
        amount = harness.decline_amount
        if amount is None:
            pytest.skip("the emulator has no decline amount")
        request = harness.payment_request(amount=amount)
        outcome = await harness.provider.create_payment(request)
        assert outcome.status is PaymentStatus.DECLINED
        assert outcome.failure is not None
        assert outcome.idempotency_key == request.idempotency_key
        assert outcome.amount == amount

    async def test_inquiry_of_an_unknown_payment_is_not_found(self, harness: ProviderHarness) -> None:
        _requires(harness, "payment_inquiry")
        with pytest.raises(NotFoundError):
            await harness.provider.inquire_payment(PaymentRef(idempotency_key=harness.new_key()))

    # -- idempotency ------------------------------------------------------------------------------

    async def test_create_replay_is_the_same_payment(self, harness: ProviderHarness) -> None:
        request = harness.payment_request()
        first = await harness.provider.create_payment(request)
        again = await harness.provider.create_payment(request)
        assert again.provider_reference == first.provider_reference
        await harness.customer_pays(first)
        after_payment = await harness.provider.create_payment(request)
        assert after_payment.provider_reference == first.provider_reference
        assert after_payment.status is PaymentStatus.SUCCEEDED
        assert first.provider_reference is not None
        assert await harness.movements(first.provider_reference) == [Movement("charge", request.amount)]

    async def test_create_key_reused_with_another_amount_conflicts(self, harness: ProviderHarness) -> None:
        request = harness.payment_request()
        await harness.provider.create_payment(request)
        with pytest.raises(ConflictError):
            await harness.provider.create_payment(request.model_copy(update={"amount": harness.money(26)}))

    # -- refunds ----------------------------------------------------------------------------------

    async def _paid(self, harness: ProviderHarness, units: int = 25) -> PaymentOutcome:
        created = await harness.provider.create_payment(harness.payment_request(amount=harness.money(units)))
        await harness.customer_pays(created)
        return created

    async def test_partial_then_full_refund(self, harness: ProviderHarness) -> None:
        _requires(harness, "partial_refund", "multiple_refunds", "refund_inquiry")
        payment = await self._paid(harness)
        partial = await harness.provider.refund(harness.refund_request(payment, harness.money(10)))
        assert partial.status in (RefundStatus.PENDING, RefundStatus.SUCCEEDED)
        assert partial.failure is None
        assert partial.payment_reference == payment.provider_reference
        await harness.settle()
        assert partial.idempotency_key is not None
        settled = await harness.provider.inquire_refund(
            RefundRef(idempotency_key=partial.idempotency_key, payment_idempotency_key=payment.idempotency_key)
        )
        assert settled.status is RefundStatus.SUCCEEDED
        assert settled.provider_reference == partial.provider_reference

        rest = await harness.provider.refund(harness.refund_request(payment, harness.money(15)))
        assert rest.status in (RefundStatus.PENDING, RefundStatus.SUCCEEDED)
        await harness.settle()
        assert rest.idempotency_key is not None
        final = await harness.provider.inquire_refund(
            RefundRef(idempotency_key=rest.idempotency_key, payment_idempotency_key=payment.idempotency_key)
        )
        assert final.status is RefundStatus.SUCCEEDED
        assert payment.provider_reference is not None
        assert await harness.movements(payment.provider_reference) == [
            Movement("charge", harness.money(25)),
            Movement("refund", harness.money(10)),
            Movement("refund", harness.money(15)),
        ]

    async def test_refund_above_the_remaining_amount_is_a_failure_value(self, harness: ProviderHarness) -> None:
        _requires(harness, "partial_refund")
        payment = await self._paid(harness)
        first = await harness.provider.refund(harness.refund_request(payment, harness.money(20)))
        assert first.failure is None
        over = await harness.provider.refund(harness.refund_request(payment, harness.money(10)))
        assert over.status is RefundStatus.FAILED
        assert over.failure is not None
        await harness.settle()
        assert payment.provider_reference is not None
        assert await harness.movements(payment.provider_reference) == [
            Movement("charge", harness.money(25)),
            Movement("refund", harness.money(20)),
        ]

    async def test_refund_replay_moves_money_once(self, harness: ProviderHarness) -> None:
        payment = await self._paid(harness)
        request = harness.refund_request(payment, harness.money(25))
        first = await harness.provider.refund(request)
        again = await harness.provider.refund(request)
        assert again.provider_reference == first.provider_reference
        assert again.failure is None
        await harness.settle()
        assert payment.provider_reference is not None
        assert await harness.movements(payment.provider_reference) == [
            Movement("charge", harness.money(25)),
            Movement("refund", harness.money(25)),
        ]

    async def test_refund_key_reused_with_another_amount_conflicts(self, harness: ProviderHarness) -> None:
        _requires(harness, "partial_refund")
        payment = await self._paid(harness)
        request = harness.refund_request(payment, harness.money(10))
        await harness.provider.refund(request)
        with pytest.raises(ConflictError):
            await harness.provider.refund(request.model_copy(update={"amount": harness.money(11)}))

    # -- capture and cancel -----------------------------------------------------------------------

    async def test_manual_capture(self, harness: ProviderHarness) -> None:
        _requires(harness, "manual_capture")
        created = await harness.provider.create_payment(harness.payment_request(capture_mode=CaptureMode.MANUAL))
        await harness.customer_pays(created)
        authorized = await harness.provider.inquire_payment(_ref(created))
        assert authorized.status is PaymentStatus.AUTHORIZED
        captured = await harness.provider.capture_payment(
            CapturePayment(
                idempotency_key=harness.new_key(),
                payment=_ref(created),
                amount=harness.money(25),
                requested_at=datetime.now(UTC),
            )
        )
        assert captured.status in (PaymentStatus.PENDING, PaymentStatus.SUCCEEDED)
        assert captured.failure is None
        await harness.settle()
        assert (await harness.provider.inquire_payment(_ref(created))).status is PaymentStatus.SUCCEEDED
        assert created.provider_reference is not None
        assert await harness.movements(created.provider_reference) == [
            Movement("authorization", harness.money(25)),
            Movement("capture", harness.money(25)),
        ]

    async def test_partial_capture_releases_the_rest(self, harness: ProviderHarness) -> None:
        _requires(harness, "manual_capture", "partial_capture")
        created = await harness.provider.create_payment(harness.payment_request(capture_mode=CaptureMode.MANUAL))
        await harness.customer_pays(created)
        await harness.provider.capture_payment(
            CapturePayment(
                idempotency_key=harness.new_key(),
                payment=_ref(created),
                amount=harness.money(10),
                requested_at=datetime.now(UTC),
            )
        )
        await harness.settle()
        assert (await harness.provider.inquire_payment(_ref(created))).status is PaymentStatus.SUCCEEDED
        assert created.provider_reference is not None
        assert await harness.movements(created.provider_reference) == [
            Movement("authorization", harness.money(25)),
            Movement("capture", harness.money(10)),
            Movement("void", harness.money(15)),
        ]

    async def test_capture_of_an_unauthorized_payment_is_refused(self, harness: ProviderHarness) -> None:
        _requires(harness, "manual_capture")
        created = await harness.provider.create_payment(harness.payment_request())
        refused = await harness.provider.capture_payment(
            CapturePayment(
                idempotency_key=harness.new_key(),
                payment=_ref(created),
                amount=harness.money(25),
                requested_at=datetime.now(UTC),
            )
        )
        assert refused.failure is not None
        assert refused.status is not PaymentStatus.SUCCEEDED
        assert created.provider_reference is not None
        assert await harness.movements(created.provider_reference) == []

    async def test_cancel_of_an_unpaid_payment_closes_it(self, harness: ProviderHarness) -> None:
        _requires(harness, "cancel_payment")
        created = await harness.provider.create_payment(harness.payment_request())
        cancelled = await harness.provider.cancel_payment(
            CancelPayment(payment=_ref(created), requested_at=datetime.now(UTC))
        )
        assert cancelled.status is PaymentStatus.CLOSED
        assert cancelled.failure is None
        assert (await harness.provider.inquire_payment(_ref(created))).status is PaymentStatus.CLOSED

    async def test_cancel_of_a_paid_payment_is_refused_and_says_paid(self, harness: ProviderHarness) -> None:
        _requires(harness, "cancel_payment")
        payment = await self._paid(harness)
        refused = await harness.provider.cancel_payment(
            CancelPayment(payment=_ref(payment), requested_at=datetime.now(UTC))
        )
        assert refused.failure is not None
        assert refused.status is PaymentStatus.SUCCEEDED
        assert (await harness.provider.inquire_payment(_ref(payment))).status is PaymentStatus.SUCCEEDED

    # -- unknown outcomes -------------------------------------------------------------------------

    @pytest.mark.parametrize("fault", list(AnswerFault))
    async def test_lost_create_answer_raises_and_a_replay_is_safe(
        self, harness: ProviderHarness, fault: AnswerFault
    ) -> None:
        """A lost answer is never a failure value; inquiry and a replay with the same key converge."""
        request = harness.payment_request()
        client = await harness.lose_next_answer("create_payment", fault)
        with pytest.raises(OutcomeUnknownError):
            await client.create_payment(request)
        try:
            found: PaymentOutcome | None = await harness.provider.inquire_payment(
                PaymentRef(idempotency_key=request.idempotency_key)
            )
        except NotFoundError:
            found = None  # the provider never handled it: nothing to reconcile
        if found is not None:
            assert found.status is PaymentStatus.PENDING
        replay = await harness.provider.create_payment(request)
        assert replay.status is PaymentStatus.PENDING
        if found is not None:
            assert replay.provider_reference == found.provider_reference
        await harness.customer_pays(replay)
        assert replay.provider_reference is not None
        assert await harness.movements(replay.provider_reference) == [Movement("charge", request.amount)]

    # -- subscriptions ----------------------------------------------------------------------------

    async def test_subscription_lifecycle(self, harness: ProviderHarness) -> None:
        _requires(harness, "native_subscriptions")
        request = harness.subscription_request()
        created = await harness.provider.create_subscription(request)
        assert created.status is SubscriptionStatus.PENDING
        assert created.provider_reference
        assert created.customer_action is not None
        await harness.customer_authorizes_subscription(created)
        active = await harness.provider.inquire_subscription(_sub_ref(created))
        assert active.status is SubscriptionStatus.ACTIVE
        assert active.current_period == 1
        assert [(p.period, p.status, p.amount) for p in active.payments] == [
            (1, PaymentStatus.SUCCEEDED, request.plan.amount)
        ]
        link = await harness.provider.manage_subscription(ManageSubscription(subscription=_sub_ref(created)))
        assert link.url
        cancelled = await harness.provider.cancel_subscription(
            CancelSubscription(subscription=_sub_ref(created), requested_at=datetime.now(UTC))
        )
        assert cancelled.status is SubscriptionStatus.CANCELLED
        assert cancelled.cancelled_by is CancelledBy.MERCHANT
        after = await harness.provider.inquire_subscription(_sub_ref(created))
        assert after.status is SubscriptionStatus.CANCELLED
