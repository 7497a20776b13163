"""The emulator's state: merchants (API users), orders and refunds."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum


@dataclass
class Merchant:
    user: str
    password: str
    store_id: str
    store_name: str
    currency: str


class PayKind(StrEnum):
    NATIVE = "NATIVE"
    QUICK = "QUICK"
    JSAPI = "JSAPI"


class TradeState(StrEnum):
    """WeChat Pay's trade_state vocabulary."""

    NOTPAY = "NOTPAY"
    USERPAYING = "USERPAYING"
    SUCCESS = "SUCCESS"
    REFUND = "REFUND"
    CLOSED = "CLOSED"
    REVOKED = "REVOKED"
    PAYERROR = "PAYERROR"


PAID_STATES = frozenset({TradeState.SUCCESS, TradeState.REFUND})
OPEN_STATES = frozenset({TradeState.NOTPAY, TradeState.USERPAYING})


class RefundState(StrEnum):
    SUCCESS = "SUCCESS"
    PROCESSING = "PROCESSING"
    REFUNDCLOSE = "REFUNDCLOSE"


@dataclass
class Refund:
    out_refund_no: str
    refund_id: str
    out_trade_no: str
    user: str
    amount: Decimal  # in the order's (merchant) amount
    buyer_amount: Decimal  # what goes back to the buyer, fee share included
    reason: str | None
    fingerprint: tuple[object, ...]
    created_at: datetime
    status: RefundState = RefundState.PROCESSING
    due_at: datetime | None = None
    completed_at: datetime | None = None


@dataclass
class Order:
    user: str
    store_id: str
    out_trade_no: str
    kind: PayKind
    service_id: int
    wallet: str
    currency: str
    amount: Decimal  # the merchant amount as requested
    fee_rate: Decimal
    fee_amount: Decimal
    total_amount: Decimal  # what the buyer pays: amount + fee_amount
    transaction_id: str
    fingerprint: tuple[object, ...]
    created_at: datetime
    trade_state: TradeState = TradeState.NOTPAY
    sub_store_id: str | None = None
    sub_store_name: str | None = None
    qr_code: str | None = None
    expires_at: datetime | None = None
    # Quick pay: when the scripted buyer finishes the PIN, and with which result.
    pin_due_at: datetime | None = None
    pin_result: TradeState | None = None
    pin_err_code: str | None = None
    err_code: str | None = None
    paid_at: datetime | None = None
    closed_at: datetime | None = None
    late_payment: bool = False
    refunds: list[Refund] = field(default_factory=list)

    def refunded(self) -> Decimal:
        """Merchant amount refunded or being refunded (failed refunds release theirs)."""
        return sum((r.amount for r in self.refunds if r.status is not RefundState.REFUNDCLOSE), Decimal(0))

    def buyer_refunded(self) -> Decimal:
        return sum((r.buyer_amount for r in self.refunds if r.status is not RefundState.REFUNDCLOSE), Decimal(0))


@dataclass
class Store:
    merchants: dict[str, Merchant] = field(default_factory=dict)
    orders: dict[tuple[str, str], Order] = field(default_factory=dict)  # (user, out_trade_no)
    refunds: dict[tuple[str, str], Refund] = field(default_factory=dict)  # (user, out_refund_no)

    def clear_business_state(self) -> None:
        self.orders.clear()
        self.refunds.clear()

    def find_order(self, out_trade_no: str) -> Order | None:
        return next((o for (_, no), o in self.orders.items() if no == out_trade_no), None)

    def find_refund(self, out_refund_no: str) -> Refund | None:
        return next((r for (_, no), r in self.refunds.items() if no == out_refund_no), None)
