"""The emulator's state: merchants, wallets, transactions, refunds and hosted-page orders."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, get_args

from emulators.waafipay.codes import Reply

PayerAction = Literal["approve", "reject", "insufficient", "wrong_pin", "timeout", "not_found", "no_route"]
PAYER_ACTIONS: tuple[str, ...] = get_args(PayerAction)

TransactionKind = Literal["purchase", "preauth", "hpp"]
# approved: purchase or HPP payment; authorized -> committed | hold_cancelled (preauth);
# reversed: API_CANCELPURCHASE.
TransactionStatus = Literal["approved", "authorized", "committed", "hold_cancelled", "reversed"]
HppStatus = Literal["pending", "approved", "declined", "cancelled", "timed_out"]


@dataclass(frozen=True)
class PayerStep:
    """How the payer answers one PIN push."""

    action: PayerAction = "approve"
    after_s: float | None = None  # None: config.payer_response_s (scaled by time_scale)
    pin: str | None = None  # the PIN the payer types; None: the wallet's own PIN

    def to_json(self) -> dict[str, Any]:
        return {"action": self.action, "afterS": self.after_s, "pin": self.pin}


@dataclass
class Wallet:
    number: str
    balance: Decimal
    pin: str
    # Consumed one per push; the last one stays in force.
    steps: list[PayerStep] = field(default_factory=lambda: [PayerStep()])
    held: Decimal = Decimal(0)

    def next_step(self) -> PayerStep:
        if len(self.steps) > 1:
            return self.steps.pop(0)
        return self.steps[0] if self.steps else PayerStep()


@dataclass
class Merchant:
    merchant_uid: str
    api_user_id: str
    api_key: str
    store_id: str | None = None
    hpp_key: str | None = None
    hpp_payment_methods: frozenset[str] = frozenset()


@dataclass
class Transaction:
    transaction_id: str
    kind: TransactionKind
    merchant_uid: str
    store_id: str | None
    reference_id: str
    invoice_id: str | None
    account_no: str
    payment_method: str
    amount: Decimal
    currency: str
    description: str
    status: TransactionStatus
    issuer_transaction_id: str
    created_at: datetime
    refunded: Decimal = Decimal(0)
    refund_ids: list[str] = field(default_factory=list)
    # Transaction ids WaafiPay assigned to the follow-up operations.
    reversal_id: str | None = None
    commit_id: str | None = None
    hold_release_id: str | None = None

    @property
    def settled(self) -> bool:
        """Money has moved to the merchant (and was not reversed)."""
        return self.status in ("approved", "committed")

    @property
    def refundable(self) -> Decimal:
        return self.amount - self.refunded if self.settled else Decimal(0)


@dataclass
class Refund:
    transaction_id: str
    original_id: str
    merchant_uid: str
    amount: Decimal
    currency: str
    reference_id: str | None
    description: str
    created_at: datetime


@dataclass
class HppOrder:
    order_id: str
    hpp_request_id: str
    token: str
    merchant_uid: str
    store_id: str
    reference_id: str
    invoice_id: str | None
    amount: Decimal
    currency: str
    description: str
    payment_method: str
    success_url: str
    failure_url: str
    data_format: int
    subscription_id: str | None
    created_at: datetime
    expires_at: datetime
    fingerprint: tuple[Any, ...]
    created_params: dict[str, str]
    status: HppStatus = "pending"
    result_token: str | None = None
    transaction_id: str | None = None
    account_no: str | None = None
    decline_text: str | None = None
    completed_at: datetime | None = None


@dataclass
class PushAttempt:
    """A blocking API_PURCHASE / API_PREAUTHORIZE, kept for referenceId idempotency."""

    fingerprint: tuple[Any, ...]
    task: asyncio.Task[Reply]


class Ids:
    """Counters for the ids WaafiPay hands out (numeric strings, as on the wire)."""

    def __init__(self) -> None:
        self.transaction = itertools.count(25_446_480)
        self.issuer = itertools.count(1_017_635_883)
        self.order = itertools.count(1_185_941)
        self.hpp_request = itertools.count(10_629)
        self.response = itertools.count(12_314)

    def next_transaction(self) -> str:
        return str(next(self.transaction))

    def next_issuer(self) -> str:
        return str(next(self.issuer))

    _COUNTERS = ("transaction", "issuer", "order", "hpp_request", "response")

    def export(self) -> dict[str, int]:
        """The next value of each counter (read without consuming it)."""
        out = {}
        for name in self._COUNTERS:
            counter = getattr(self, name)
            value = next(counter)
            setattr(self, name, itertools.count(value))
            out[name] = value
        return out

    def restore(self, saved: dict[str, int]) -> None:
        for name in self._COUNTERS:
            if name in saved:
                setattr(self, name, itertools.count(saved[name]))


@dataclass
class State:
    merchants: dict[str, Merchant] = field(default_factory=dict)  # by merchantUid
    wallets: dict[str, Wallet] = field(default_factory=dict)
    transactions: dict[str, Transaction] = field(default_factory=dict)
    # Follow-up ids (a pre-authorization's commit id) -> the transaction they belong to.
    aliases: dict[str, str] = field(default_factory=dict)
    refunds: dict[str, Refund] = field(default_factory=dict)
    orders: dict[str, HppOrder] = field(default_factory=dict)  # by order id
    orders_by_token: dict[str, str] = field(default_factory=dict)
    orders_by_result_token: dict[str, str] = field(default_factory=dict)
    # (merchantUid, storeId, referenceId) -> latest order id
    orders_by_reference: dict[tuple[str, str, str], str] = field(default_factory=dict)
    # (merchantUid, "purchase" | "preauth", referenceId) -> latest attempt
    attempts: dict[tuple[str, str, str], PushAttempt] = field(default_factory=dict)
    ids: Ids = field(default_factory=Ids)

    def clear_business_state(self) -> None:
        self.transactions.clear()
        self.aliases.clear()
        self.refunds.clear()
        self.orders.clear()
        self.orders_by_token.clear()
        self.orders_by_result_token.clear()
        self.orders_by_reference.clear()
        self.attempts.clear()
        self.ids = Ids()
