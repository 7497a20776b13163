"""Results of Waffo's configuration look-ups, which have no counterpart in the normalized protocol."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from billing.money import Money
from providers.base import PaymentStatus, ProviderFailure, SubscriptionRef


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MerchantConfig(_Result):
    """``merchantconfig/inquiry``: limits per currency. An empty mapping means no limit is set.

    ``failure`` is set (and everything else empty) when Waffo refused the look-up.
    """

    merchant_id: str | None = None
    total_daily_limit: dict[str, Money] = {}
    remaining_daily_limit: dict[str, Money] = {}
    transaction_limit: dict[str, Money] = {}
    failure: ProviderFailure | None = None


class MaintenanceWindow(_Result):
    """A recurring maintenance window as two Quartz cron expressions (e.g. ``0 30 1 * * ?``)."""

    start_rule: str
    end_rule: str


class PayMethodAvailability(_Result):
    product_name: str | None = None
    pay_method_name: str | None = None
    #: e.g. CREDITCARD, EWALLET: what ``paymentInfo.payMethodType`` names.
    pay_method_type: str | None = None
    country: str | None = None
    currency: str | None = None
    #: The order amount range the contract allows (``orderAmountMin`` / ``orderAmountMax``), when stated.
    min_amount: Money | None = None
    max_amount: Money | None = None
    #: ``refundAllowed`` 1 / 0; None when not stated.
    refund_allowed: bool | None = None
    #: Waffo's ``currentStatus`` "1".
    available: bool
    maintenance_windows: tuple[MaintenanceWindow, ...] = ()
    #: e.g. "UTC+08:00", the zone the maintenance rules are written in.
    maintenance_timezone: str | None = None

    def accepts(self, amount: Money) -> bool:
        """Whether ``amount`` fits this method's currency and amount range (an unstated bound does not limit)."""
        if self.currency is not None and self.currency != amount.currency:
            return False
        if self.min_amount is not None and amount.amount_minor < self.min_amount.amount_minor:
            return False
        return self.max_amount is None or amount.amount_minor <= self.max_amount.amount_minor


class PayMethodConfig(_Result):
    """``paymethodconfig/inquiry``: which payment methods the merchant can offer right now."""

    merchant_id: str | None = None
    pay_methods: tuple[PayMethodAvailability, ...] = ()
    failure: ProviderFailure | None = None


class TopUp(_Result):
    """A one-off charge on a subscription's stored payment method (``subscription/update`` ``topupInfo``).

    ``idempotency_key`` is Waffo's ``topupRequest``: the same key is the same charge, ever.
    """

    idempotency_key: str
    amount: Money
    description: str | None = None


class UpdateSubscription(_Result):
    """``subscription/update``: new amounts from the next billing period on, and/or a top-up."""

    subscription: SubscriptionRef
    currency: str
    amount: Money | None = None
    trial_amount: Money | None = None
    #: Per-period price overrides, by period number (1-based).
    scheduled_amounts: dict[int, Money] = {}
    top_up: TopUp | None = None


class TopUpOutcome(_Result):
    idempotency_key: str | None = None
    #: Waffo's ``acquiringOrderId`` of the top-up charge.
    provider_reference: str | None = None
    amount: Money | None = None
    status: PaymentStatus = PaymentStatus.PENDING
    provider_status: str | None = None


class SubscriptionUpdateOutcome(_Result):
    """What ``subscription/update`` answered; ``failure`` is set (and the rest empty) on a refusal."""

    subscription_id: str | None = None
    previous_amount: Money | None = None
    new_amount: Money | None = None
    next_effective_period: int | None = None
    top_up: TopUpOutcome | None = None
    failure: ProviderFailure | None = None
