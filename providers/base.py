"""The one protocol every payment provider implements, in the engine's normalized vocabulary.

Above ``providers/`` nothing knows a provider's spelling: activities call these operations with the
models of :mod:`billing.gateway` (re-exported here) and get its outcomes back.

Rules every implementation follows:

* Every money-moving request carries an ``idempotency_key`` computed by the caller (the workflow) from
  business keys. There is no default. A retry of the same attempt reuses the same key.
* An outcome's status defaults to ``PENDING``. Only an explicit provider statement makes it final
  (``SUCCEEDED``, ``DECLINED``, ``CLOSED``...). Unknown provider statuses map to ``PENDING``.
* A definite provider refusal is a value: the outcome carries a :class:`ProviderFailure`.
* An attempt that did not conclude raises :class:`~billing.errors.OutcomeUnknownError` (timeout, network
  error, 5xx, "unknown status" codes, unverifiable responses): the caller reconciles by inquiry with the
  same idempotency key and never concludes failure from it.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from billing.gateway import (
    FINAL_PAYMENT_STATUSES,
    BillingInterval,
    CancelledBy,
    CancelPayment,
    CancelSubscription,
    CaptureMode,
    CapturePayment,
    ChangeOutcome,
    ChangeStatus,
    ChangeSubscription,
    CreatePayment,
    CreateRefund,
    CreateSubscription,
    Customer,
    CustomerAction,
    CustomerActionKind,
    FailureCategory,
    InquireSubscriptionChange,
    ManagementLink,
    ManageSubscription,
    NotificationReply,
    PaymentEvent,
    PaymentOutcome,
    PaymentRef,
    PaymentStatus,
    ProviderCapabilities,
    ProviderEvent,
    ProviderFailure,
    RefundEvent,
    RefundOutcome,
    RefundRef,
    RefundStatus,
    SubscriptionChangeEvent,
    SubscriptionEvent,
    SubscriptionEventType,
    SubscriptionOutcome,
    SubscriptionPayment,
    SubscriptionPlan,
    SubscriptionRef,
    SubscriptionStatus,
    UnknownEvent,
)

__all__ = [
    "FINAL_PAYMENT_STATUSES",
    "BillingInterval",
    "CancelPayment",
    "CancelSubscription",
    "CancelledBy",
    "CaptureMode",
    "CapturePayment",
    "ChangeOutcome",
    "ChangeStatus",
    "ChangeSubscription",
    "CreatePayment",
    "CreateRefund",
    "CreateSubscription",
    "Customer",
    "CustomerAction",
    "CustomerActionKind",
    "FailureCategory",
    "InquireSubscriptionChange",
    "ManageSubscription",
    "ManagementLink",
    "NotificationReply",
    "NotificationVerifier",
    "PaymentEvent",
    "PaymentOutcome",
    "PaymentProvider",
    "PaymentRef",
    "PaymentStatus",
    "ProviderCapabilities",
    "ProviderEvent",
    "ProviderFailure",
    "RefundEvent",
    "RefundOutcome",
    "RefundRef",
    "RefundStatus",
    "SubscriptionChangeEvent",
    "SubscriptionEvent",
    "SubscriptionEventType",
    "SubscriptionOutcome",
    "SubscriptionPayment",
    "SubscriptionPlan",
    "SubscriptionRef",
    "SubscriptionStatus",
    "UnknownEvent",
]


# -- the protocol -------------------------------------------------------------------------------


@runtime_checkable
class PaymentProvider(Protocol):
    """Normalized operations. Unsupported ones raise UnsupportedOperationError."""

    name: str
    capabilities: ProviderCapabilities

    async def create_payment(self, request: CreatePayment) -> PaymentOutcome: ...
    async def inquire_payment(self, payment: PaymentRef) -> PaymentOutcome: ...
    async def cancel_payment(self, request: CancelPayment) -> PaymentOutcome: ...
    async def capture_payment(self, request: CapturePayment) -> PaymentOutcome: ...

    async def refund(self, request: CreateRefund) -> RefundOutcome: ...
    async def inquire_refund(self, refund: RefundRef) -> RefundOutcome: ...

    async def create_subscription(self, request: CreateSubscription) -> SubscriptionOutcome: ...
    async def inquire_subscription(self, subscription: SubscriptionRef) -> SubscriptionOutcome: ...
    async def cancel_subscription(self, request: CancelSubscription) -> SubscriptionOutcome: ...
    async def manage_subscription(self, request: ManageSubscription) -> ManagementLink: ...
    async def change_subscription(self, request: ChangeSubscription) -> ChangeOutcome: ...
    async def inquire_subscription_change(self, request: InquireSubscriptionChange) -> ChangeOutcome: ...

    async def aclose(self) -> None: ...


class NotificationVerifier(Protocol):
    """Verifies and parses a provider's inbound notifications on raw bytes.

    An implementation may set ``acknowledges_unknown_events = False`` when the provider's own SDK refuses
    event types it does not know (Waffo): the HTTP service then answers them with ``failure_reply()``.
    """

    def parse_notification(self, body: bytes, headers: dict[str, str]) -> ProviderEvent: ...
    def success_reply(self) -> NotificationReply: ...
    def failure_reply(self) -> NotificationReply: ...
