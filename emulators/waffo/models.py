"""In-memory state of the Waffo emulator: merchants, orders, refunds, subscriptions, changes."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

# Order statuses (orderStatus).
AUTHORIZATION_REQUIRED = "AUTHORIZATION_REQUIRED"
PAY_IN_PROGRESS = "PAY_IN_PROGRESS"
AUTHED_WAITING_CAPTURE = "AUTHED_WAITING_CAPTURE"
CAPTURE_IN_PROGRESS = "CAPTURE_IN_PROGRESS"
PAY_SUCCESS = "PAY_SUCCESS"
ORDER_CLOSE = "ORDER_CLOSE"
AWAITING_PAYMENT = frozenset({AUTHORIZATION_REQUIRED, PAY_IN_PROGRESS})

# Refund statuses (refundStatus).
REFUND_IN_PROGRESS = "REFUND_IN_PROGRESS"
ORDER_PARTIALLY_REFUNDED = "ORDER_PARTIALLY_REFUNDED"
ORDER_FULLY_REFUNDED = "ORDER_FULLY_REFUNDED"
ORDER_REFUND_FAILED = "ORDER_REFUND_FAILED"

# Subscription statuses (subscriptionStatus).
SUB_AUTHORIZATION_REQUIRED = "AUTHORIZATION_REQUIRED"
SUB_IN_PROGRESS = "IN_PROGRESS"
SUB_ACTIVE = "ACTIVE"
SUB_CLOSE = "CLOSE"
SUB_MERCHANT_CANCELLED = "MERCHANT_CANCELLED"
SUB_USER_CANCELLED = "USER_CANCELLED"
SUB_EXPIRED = "EXPIRED"
SUB_AWAITING_AUTHORIZATION = frozenset({SUB_AUTHORIZATION_REQUIRED, SUB_IN_PROGRESS})

# Subscription change statuses (subscriptionChangeStatus).
CHANGE_AUTHORIZATION_REQUIRED = "AUTHORIZATION_REQUIRED"
CHANGE_SUCCESS = "SUCCESS"
CHANGE_CLOSED = "CLOSED"


def new_id(prefix: str, now: datetime, digits: int = 12) -> str:
    """Waffo-like ids: prefix + yyyymmddHHMMSS + random digits (27-28 chars, within the 32 limit)."""
    random_part = "".join(secrets.choice("0123456789") for _ in range(digits))
    return f"{prefix}{now.strftime('%Y%m%d%H%M%S')}{random_part}"


@dataclass
class Merchant:
    api_key: str
    merchant_id: str
    public_key: rsa.RSAPublicKey
    public_key_b64: str


@dataclass
class Order:
    acquiring_order_id: str
    merchant_id: str
    payment_request_id: str | None
    merchant_order_id: str | None
    currency: str
    amount: Decimal
    amount_text: str
    description: str
    status: str
    notify_url: str
    requested_at: str
    expires_at: datetime
    updated_at: str
    request: dict[str, Any]
    manual_capture: bool = False
    completed_at: str | None = None
    failed_reason: str | None = None
    pay_method_name: str | None = None
    final_deal_amount: Decimal | None = None
    # Money actually collected (charge or capture); the refundable base.
    collected: Decimal = Decimal(0)
    # Sum of refunds that are in progress or succeeded (failed ones are released).
    refund_reserved: Decimal = Decimal(0)
    refund_completed: Decimal = Decimal(0)
    capture_amount: Decimal | None = None
    # Subscription charge fields.
    subscription_id: str | None = None
    subscription_request: str | None = None
    period: int | None = None

    @property
    def refundable(self) -> Decimal:
        return self.collected - self.refund_reserved


@dataclass
class Refund:
    acquiring_refund_order_id: str
    refund_request_id: str
    merchant_id: str
    acquiring_order_id: str
    amount: Decimal
    currency: str
    status: str
    reason: str
    notify_url: str
    requested_at: str
    updated_at: str
    request: dict[str, Any]
    merchant_refund_order_id: str | None = None
    completed_at: str | None = None
    failed_reason: str | None = None


@dataclass
class Subscription:
    subscription_id: str
    subscription_request: str
    merchant_subscription_id: str | None
    merchant_id: str
    currency: str
    amount: Decimal
    status: str
    notify_url: str
    product_info: dict[str, Any]
    period_type: str
    period_interval: int
    number_of_period: int | None
    requested_at: str
    updated_at: str
    expires_at: datetime
    request: dict[str, Any]
    start: datetime | None = None
    current_period: int = 0
    failed_reason: str | None = None
    pay_method_name: str | None = None
    trial_amount: Decimal | None = None
    trial_periods: int = 0
    scheduled_amounts: dict[int, Decimal] = field(default_factory=dict)
    charge_order_ids: list[str] = field(default_factory=list)
    # For subscriptions created by subscription/change: the change that created them.
    change_key: tuple[str, str] | None = None
    # First-period credit carried from the original subscription (subscription/change).
    first_period_credit: Decimal = Decimal(0)

    def amount_for_period(self, period: int) -> Decimal:
        if period in self.scheduled_amounts:
            return self.scheduled_amounts[period]
        if self.trial_amount is not None and period <= self.trial_periods:
            return self.trial_amount
        return self.amount


@dataclass
class SubscriptionChange:
    merchant_id: str
    origin_subscription_request: str
    subscription_request: str
    new_subscription_id: str
    remaining_amount: Decimal
    currency: str
    status: str
    requested_at: str
    request: dict[str, Any]


@dataclass
class Store:
    merchants_by_key: dict[str, Merchant] = field(default_factory=dict)
    orders: dict[str, Order] = field(default_factory=dict)
    order_by_request: dict[tuple[str, str], str] = field(default_factory=dict)
    refunds: dict[str, Refund] = field(default_factory=dict)
    refund_by_request: dict[tuple[str, str], str] = field(default_factory=dict)
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    subscription_by_request: dict[tuple[str, str], str] = field(default_factory=dict)
    changes: dict[tuple[str, str], SubscriptionChange] = field(default_factory=dict)
    # subscription/update top-ups: (merchant id, topupRequest) -> acquiringOrderId.
    topups: dict[tuple[str, str], str] = field(default_factory=dict)
    # Idempotency fingerprints: (kind, merchant id, request id) -> business payload.
    fingerprints: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)

    def clear_business_state(self) -> None:
        self.orders.clear()
        self.order_by_request.clear()
        self.refunds.clear()
        self.refund_by_request.clear()
        self.subscriptions.clear()
        self.subscription_by_request.clear()
        self.changes.clear()
        self.topups.clear()
        self.fingerprints.clear()

    def merchant_by_id(self, merchant_id: str) -> Merchant | None:
        for merchant in self.merchants_by_key.values():
            if merchant.merchant_id == merchant_id:
                return merchant
        return None
