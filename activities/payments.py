"""Payment activities: thin calls to the provider named in the input. No retries, no decisions.

Dependencies are injected (a registry of configured providers and the public callback URL), so tests
run them against emulators and the worker against real providers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict
from temporalio import activity

from activities.errors import earlier_attempts_not_sent, kept_alive, reconciled_retries, translate_errors
from billing.callbacks import CallbackUrls
from billing.errors import BillingError, ConfigurationError, OutcomeUnknownError
from billing.gateway import (
    CancelPayment,
    CapturePayment,
    CreatePayment,
    CreateRefund,
    PaymentOutcome,
    PaymentRef,
    PaymentStatus,
    RefundOutcome,
    RefundRef,
)
from billing.metrics import count_refund
from providers.base import PaymentProvider
from providers.registry import provider_spec


class _Call(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    provider: str


class CreatePaymentCall(_Call):
    order_id: str
    request: CreatePayment


class PaymentCall(_Call):
    payment: PaymentRef


class CancelPaymentCall(_Call):
    request: CancelPayment


class CapturePaymentCall(_Call):
    request: CapturePayment


class RefundCall(_Call):
    order_id: str
    request: CreateRefund


class RefundInquiryCall(_Call):
    refund: RefundRef


class ProviderRegistry:
    """The providers this worker is configured for, by name."""

    def __init__(self, providers: Mapping[str, PaymentProvider]) -> None:
        self._providers = dict(providers)

    def get(self, name: str) -> PaymentProvider:
        try:
            return self._providers[name]
        except KeyError:
            raise ConfigurationError(
                f"provider {name!r} is not configured on this worker", setting=f"BILLING_{name.upper()}_*"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._providers)

    async def aclose(self) -> None:
        for provider in self._providers.values():
            await provider.aclose()


class CreatedPayment(PaymentOutcome):
    """What ``payments.create`` returns: the provider's outcome, and whether this deployment sends merchant events.

    An order needs that answer for its first merchant event, right after this call. Carried here, it
    spares every order the ``events.enabled`` local activity (an activation and a marker, about 6% of an
    order's cost). Recorded in the activity's result, it replays as it was. None (histories from before
    this field, or a worker that was not told) leaves the order to ask.
    """

    merchant_events: bool | None = None
    #: Whether the provider can close (cancel) an unpaid payment (``capabilities.cancel_payment``). False:
    #: the order waits out ``payable_until`` and concludes by inquiry. None (older histories): it can.
    provider_closes: bool | None = None


class PaymentActivities:
    def __init__(
        self, providers: ProviderRegistry, callbacks: CallbackUrls, *, merchant_events: bool | None = None
    ) -> None:
        self.providers = providers
        self.callbacks = callbacks
        #: Whether this worker's deployment sends merchant events (see CreatedPayment); None: not told.
        self.merchant_events = merchant_events

    @activity.defn(name="payments.create")
    @translate_errors
    @reconciled_retries
    @kept_alive
    async def create_payment(self, call: CreatePaymentCall) -> CreatedPayment:
        info = activity.info()
        if not provider_spec(call.provider).create_resend and not earlier_attempts_not_sent(info):
            # An earlier attempt timed out or its worker died, and may have reached the provider: a wallet
            # push sent again asks the payer again and may charge twice. Never re-sent: reconciled instead.
            raise OutcomeUnknownError(
                f"attempt {info.attempt}: an earlier attempt may have reached {call.provider}; "
                "the create is never sent again (reconciled by inquiry)",
                provider=call.provider,
                operation="create_payment",
            )
        provider = self.providers.get(call.provider)
        request = self.callbacks.create_request(
            call.request, call.provider, call.order_id, provider_notifies=provider.capabilities.webhooks
        )
        outcome = await provider.create_payment(request)
        closes = provider.capabilities.cancel_payment
        action = outcome.customer_action
        if (
            provider_spec(call.provider).lapsing_checkout
            and outcome.status is PaymentStatus.PENDING
            and action is not None
            and action.expires_at is not None
        ):
            # A checkout that lapses by itself (a hosted page with a lifetime) cannot be closed: the order waits for
            # the lapse, after which "no such transaction" means nothing was taken (and the order is EXPIRED).
            closes = False
            outcome = outcome.model_copy(update={"payable_until": outcome.payable_until or action.expires_at})
        return CreatedPayment(**dict(outcome), merchant_events=self.merchant_events, provider_closes=closes)

    @activity.defn(name="payments.inquire")
    @translate_errors
    @kept_alive
    async def inquire_payment(self, call: PaymentCall) -> PaymentOutcome:
        return await self.providers.get(call.provider).inquire_payment(call.payment)

    @activity.defn(name="payments.cancel")
    @translate_errors
    @kept_alive
    async def cancel_payment(self, call: CancelPaymentCall) -> PaymentOutcome:
        return await self.providers.get(call.provider).cancel_payment(call.request)

    @activity.defn(name="payments.capture")
    @translate_errors
    @reconciled_retries
    @kept_alive
    async def capture_payment(self, call: CapturePaymentCall) -> PaymentOutcome:
        return await self.providers.get(call.provider).capture_payment(call.request)

    @activity.defn(name="refunds.create")
    @translate_errors
    @reconciled_retries
    @kept_alive
    async def refund(self, call: RefundCall) -> RefundOutcome:
        request = self.callbacks.notified(call.request, call.provider, call.order_id)
        try:
            outcome = await self.providers.get(call.provider).refund(request)
        except OutcomeUnknownError:
            count_refund(call.provider, "unknown")
            raise
        except BillingError:
            count_refund(call.provider, "error")
            raise
        count_refund(call.provider, outcome.status.value.lower())
        return outcome

    @activity.defn(name="refunds.inquire")
    @translate_errors
    @kept_alive
    async def inquire_refund(self, call: RefundInquiryCall) -> RefundOutcome:
        return await self.providers.get(call.provider).inquire_refund(call.refund)

    def all(self) -> list[Callable[..., Any]]:
        """Every activity of this class, for ``Worker(activities=...)``."""
        return [
            self.create_payment,
            self.inquire_payment,
            self.cancel_payment,
            self.capture_payment,
            self.refund,
            self.inquire_refund,
        ]
