"""The engine's normalized vocabulary for talking to payment providers: requests, outcomes, events.

Pure models, no I/O: workflows, activities, the HTTP service and every provider client share them.
``providers/base.py`` defines the protocol that each provider implements with these models.

* Every money-moving request carries an ``idempotency_key`` computed by the caller (the workflow) from
  business keys. There is no default. A retry of the same attempt reuses the same key.
* An outcome's status defaults to ``PENDING``. Only an explicit provider statement makes it final.
* A definite provider refusal is a value: the outcome carries a :class:`ProviderFailure`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from billing.money import Money

#: Idempotency keys are opaque, non-empty and short enough for every provider (the strictest: 32 characters).
IdempotencyKey = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_\-]+$")]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# -- capabilities -------------------------------------------------------------------------------


class ProviderCapabilities(_Model):
    """What a provider can do; workflows choose flows by these, never by provider name."""

    webhooks: bool
    native_subscriptions: bool
    payment_inquiry: bool
    refund_inquiry: bool
    partial_refund: bool
    multiple_refunds: bool
    manual_capture: bool
    partial_capture: bool
    cancel_payment: bool
    #: The longest one call may wait for its answer by the provider's documents (a wallet push
    #: waits for the payer's PIN). The engine's call limit for the provider is above it (see
    #: ``billing.orders.provider_call_limit``), so a call that is still waiting is never timed out and sent again.
    longest_wait: timedelta


# -- shared pieces ------------------------------------------------------------------------------


class FailureCategory(StrEnum):
    """Who or what a definite failure is attributed to."""

    MERCHANT = "MERCHANT"  # our request or merchant configuration (A-class codes)
    CUSTOMER = "CUSTOMER"  # the payer: balance, timeout, abandoned (B-class codes)
    PROVIDER = "PROVIDER"  # channel or system rejection (C-class codes)
    RISK = "RISK"  # risk control (D-class codes)


class ProviderFailure(_Model):
    """A definite refusal, carried as a value. Keeps the provider's own code and text."""

    code: str
    message: str
    category: FailureCategory
    #: A hard failure will not succeed if retried later (dunning stops early); soft ones might.
    hard: bool = False


class Customer(_Model):
    """The payer. Personal data: never put in logs, search attributes or summaries."""

    customer_id: str = Field(min_length=1, max_length=64)
    email: str | None = Field(default=None, max_length=64)
    phone: str | None = Field(default=None, max_length=30)
    country_code: str | None = Field(default=None, max_length=3)
    first_name: str | None = Field(default=None, max_length=64)
    last_name: str | None = Field(default=None, max_length=64)


class CustomerActionKind(StrEnum):
    REDIRECT = "REDIRECT"  # open a URL (hosted checkout, authorization page)
    DEEPLINK = "DEEPLINK"  # open an app
    QR = "QR"  # show a QR string for the customer to scan
    WALLET_PUSH = "WALLET_PUSH"  # the customer approves on their phone; nothing to show
    NONE = "NONE"


class CustomerAction(_Model):
    """What the customer must do to pay."""

    kind: CustomerActionKind
    url: str | None = None
    qr: str | None = None
    expires_at: datetime | None = None


class CaptureMode(StrEnum):
    AUTOMATIC = "AUTOMATIC"
    MANUAL = "MANUAL"


# -- payments -----------------------------------------------------------------------------------


class PaymentStatus(StrEnum):
    PENDING = "PENDING"  # no final statement yet: the customer must act, or the provider is processing
    AUTHORIZED = "AUTHORIZED"  # authorized, waiting for the merchant's capture
    SUCCEEDED = "SUCCEEDED"  # money taken (for manual capture: captured)
    DECLINED = "DECLINED"  # definitely refused; ``failure`` says why
    CLOSED = "CLOSED"  # closed without money taken: cancelled, expired, abandoned or failed


FINAL_PAYMENT_STATUSES = frozenset({PaymentStatus.SUCCEEDED, PaymentStatus.DECLINED, PaymentStatus.CLOSED})


class PaymentRef(_Model):
    """How to find a payment at the provider: our request id, and the provider's id once known."""

    idempotency_key: IdempotencyKey
    provider_reference: str | None = None
    #: An unsigned hint from the customer's redirect (e.g. a hosted page's result token): the provider is asked
    #: about it, and its answer counts only if it is about this payment.
    result_token: str | None = Field(default=None, max_length=256)
    #: The create was a push to the payer's handset (a wallet push), not a checkout: providers
    #: that document no status query for such payments refuse to inquire (UnsupportedOperationError).
    payer_push: bool = False


class CreatePayment(_Model):
    idempotency_key: IdempotencyKey
    merchant_order_id: str = Field(min_length=1, max_length=64)
    amount: Money
    description: str = Field(min_length=1, max_length=128)
    customer: Customer
    capture_mode: CaptureMode = CaptureMode.AUTOMATIC
    notify_url: str | None = None
    success_url: str | None = None
    failure_url: str | None = None
    cancel_url: str | None = None
    expires_at: datetime | None = None
    #: Provider-specific method filter (e.g. "CREDITCARD,EWALLET"); None lets the customer choose.
    payment_method: str | None = None
    requested_at: datetime


class CancelPayment(_Model):
    payment: PaymentRef
    requested_at: datetime


class CapturePayment(_Model):
    idempotency_key: IdempotencyKey  # the capture request's own key
    payment: PaymentRef
    amount: Money
    requested_at: datetime


class PaymentOutcome(_Model):
    """The provider's statement about a payment. Default: PENDING."""

    status: PaymentStatus = PaymentStatus.PENDING
    idempotency_key: str | None = None
    provider_reference: str | None = None
    #: The merchant's order id as the provider echoes it (routes notifications without a path hint).
    merchant_reference: str | None = None
    #: The provider's own status word, kept for the timeline.
    provider_status: str | None = None
    amount: Money | None = None
    #: What the customer actually paid when it differs (FX, buyer fees).
    paid_amount: Money | None = None
    customer_action: CustomerAction | None = None
    failure: ProviderFailure | None = None
    completed_at: datetime | None = None
    #: For a subscription's period charge: the provider's subscription id and period number.
    subscription_reference: str | None = None
    subscription_period: int | None = None
    #: Until when the provider may still take the customer's money for this payment (its QR code or PIN
    #: window), for providers that cannot close a payment: the engine waits this out before concluding.
    payable_until: datetime | None = None


# -- refunds ------------------------------------------------------------------------------------


class RefundStatus(StrEnum):
    PENDING = "PENDING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"  # definitely not refunded; ``failure`` says why


class CreateRefund(_Model):
    idempotency_key: IdempotencyKey  # the refund request id
    payment: PaymentRef
    amount: Money
    reason: str | None = Field(default=None, max_length=256)
    notify_url: str | None = None
    requested_at: datetime


class RefundRef(_Model):
    idempotency_key: IdempotencyKey
    provider_reference: str | None = None
    #: The payment's currency: some providers state refund amounts without one.
    currency: str | None = None
    #: The payment's own request id: some providers look refunds up by the payment's order number.
    payment_idempotency_key: str | None = None
    #: The refund's amount, when known: an answer stating another amount is not about this refund.
    amount: Money | None = None


class RefundOutcome(_Model):
    status: RefundStatus = RefundStatus.PENDING
    idempotency_key: str | None = None
    provider_reference: str | None = None
    payment_reference: str | None = None
    provider_status: str | None = None
    amount: Money | None = None
    #: What remains refundable on the payment after this refund, when the provider says.
    remaining_refundable: Money | None = None
    failure: ProviderFailure | None = None
    completed_at: datetime | None = None


# -- subscriptions (provider-managed) -----------------------------------------------------------


class BillingInterval(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


class SubscriptionPlan(_Model):
    plan_id: str = Field(min_length=1, max_length=64)
    description: str = Field(min_length=1, max_length=128)
    amount: Money
    interval: BillingInterval
    interval_count: int = Field(default=1, ge=1, le=365)
    #: Total number of paid periods; None is open-ended.
    periods: int | None = Field(default=None, ge=1)
    trial_periods: int | None = Field(default=None, ge=1)
    trial_amount: Money | None = None


class SubscriptionStatus(StrEnum):
    PENDING = "PENDING"  # waiting for the customer's first payment / authorization
    ACTIVE = "ACTIVE"
    CLOSED = "CLOSED"  # never became active (first payment failed or timed out)
    CANCELLED = "CANCELLED"  # ``cancelled_by`` says who
    EXPIRED = "EXPIRED"  # every period done


class CancelledBy(StrEnum):
    MERCHANT = "MERCHANT"
    CUSTOMER = "CUSTOMER"
    PROVIDER = "PROVIDER"


class SubscriptionRef(_Model):
    idempotency_key: IdempotencyKey
    provider_reference: str | None = None


class _SubscriptionCheckout(_Model):
    """Where the customer authorizes a subscription and where the provider reports back."""

    customer: Customer
    notify_url: str | None = None
    success_url: str | None = None
    failure_url: str | None = None
    cancel_url: str | None = None
    management_url: str | None = None
    payment_method: str | None = None
    requested_at: datetime


class CreateSubscription(_SubscriptionCheckout):
    idempotency_key: IdempotencyKey  # the provider's subscription request id
    merchant_subscription_id: str = Field(min_length=1, max_length=64)
    plan: SubscriptionPlan
    expires_at: datetime | None = None


class SubscriptionPayment(_Model):
    period: int
    status: PaymentStatus
    provider_reference: str | None = None
    amount: Money | None = None
    updated_at: datetime | None = None


class SubscriptionOutcome(_Model):
    status: SubscriptionStatus = SubscriptionStatus.PENDING
    idempotency_key: str | None = None
    provider_reference: str | None = None
    #: The merchant's (engine's) subscription id, when the provider states it (a merchant subscription id).
    merchant_reference: str | None = None
    provider_status: str | None = None
    cancelled_by: CancelledBy | None = None
    customer_action: CustomerAction | None = None
    amount: Money | None = None
    current_period: int | None = None
    current_period_start: datetime | None = None
    next_payment_at: datetime | None = None
    management_url: str | None = None
    payments: tuple[SubscriptionPayment, ...] = ()
    failure: ProviderFailure | None = None


class CancelSubscription(_Model):
    subscription: SubscriptionRef
    requested_at: datetime


class ManageSubscription(_Model):
    subscription: SubscriptionRef


class ManagementLink(_Model):
    url: str
    expires_at: datetime | None = None


class ChangeStatus(StrEnum):
    PENDING = "PENDING"  # in progress, or the customer must authorize (``customer_action``)
    SUCCEEDED = "SUCCEEDED"
    CLOSED = "CLOSED"


class ChangeSubscription(_SubscriptionCheckout):
    idempotency_key: IdempotencyKey  # the new subscription's request id
    original: SubscriptionRef
    merchant_subscription_id: str | None = None
    new_plan: SubscriptionPlan
    #: Credit from the unused part of the old plan, computed by the engine's proration.
    remaining_credit: Money


class InquireSubscriptionChange(_Model):
    idempotency_key: IdempotencyKey
    original: SubscriptionRef


class ChangeOutcome(_Model):
    status: ChangeStatus = ChangeStatus.PENDING
    idempotency_key: str | None = None
    original_idempotency_key: str | None = None
    provider_reference: str | None = None  # the NEW subscription's provider id
    #: The merchant's (engine's) subscription id, when the provider states it (a merchant subscription id).
    merchant_reference: str | None = None
    provider_status: str | None = None
    customer_action: CustomerAction | None = None
    failure: ProviderFailure | None = None


# -- notifications ------------------------------------------------------------------------------


class PaymentEvent(_Model):
    kind: Literal["payment"] = "payment"
    #: Stable key of this statement (same event delivered twice -> same key): workflows dedupe on it.
    event_key: str
    outcome: PaymentOutcome


class RefundEvent(_Model):
    kind: Literal["refund"] = "refund"
    event_key: str
    outcome: RefundOutcome


class SubscriptionEventType(StrEnum):
    STATUS = "STATUS"  # the subscription's own status changed
    PERIOD_CHANGED = "PERIOD_CHANGED"  # a renewal period reached its final result


class SubscriptionEvent(_Model):
    kind: Literal["subscription"] = "subscription"
    event_key: str
    event_type: SubscriptionEventType
    outcome: SubscriptionOutcome


class SubscriptionChangeEvent(_Model):
    kind: Literal["subscription_change"] = "subscription_change"
    event_key: str
    outcome: ChangeOutcome


class UnknownEvent(_Model):
    """A verified notification of a type the engine does not handle: acknowledged, recorded, ignored."""

    kind: Literal["unknown"] = "unknown"
    event_key: str
    provider_event_type: str


ProviderEvent = Annotated[
    PaymentEvent | RefundEvent | SubscriptionEvent | SubscriptionChangeEvent | UnknownEvent,
    Field(discriminator="kind"),
]


class NotificationReply(_Model):
    """Exactly what to answer the provider's HTTP notification with."""

    status_code: int
    headers: dict[str, str]
    body: bytes
