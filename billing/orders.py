"""One-time orders: the normalized payment state machine, pure and deterministic.

``OrderWorkflow`` holds one :class:`Order` and asks it every question: may this refund be accepted, what
does this provider statement change, what is refundable. Nothing here does I/O or reads the clock, so
the same rules run in workflows, in tests and in replay.

::

    CREATED -> PENDING (customer must act) -> PAID | FAILED | EXPIRED | CANCELLED
    PENDING -> AUTHORIZED (manual capture) -> PAID (captured) | CANCELLED (voided)
    any non-final -> UNKNOWN (the provider call did not conclude) -> reconciled by inquiry
    UNKNOWN -> NEEDS_REVIEW when inquiry is exhausted (an operator resolves it)
    PAID -> PARTIALLY_REFUNDED -> REFUNDED

Final states win: a late or duplicate statement is recorded in the timeline and never moves a final
state backwards. The one exception is money: a verified success after the order expired, failed or was
cancelled means the customer paid, so the order becomes PAID.

"Late" is decided from the provider's own payment time (``PaymentOutcome.completed_at``) against the
deadline (or the moment the engine began to close the order, if earlier): a payment made in time is
never late, however late the engine learns of it. Without a payment time, a success is late only when
the engine had a definite close confirmation before it.

A close the engine caused is EXPIRED (deadline) or CANCELLED (merchant cancel, capture window), whatever
failure reason the provider's close statement carries; a close the provider states at or after the
deadline is EXPIRED; a decline before the deadline and before any close by the engine is FAILED.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from billing.coupons import normalize_code
from billing.errors import ConflictError, InputError, InvalidAmountError, InvalidStateError
from billing.gateway import (
    CaptureMode,
    CreatePayment,
    Customer,
    CustomerAction,
    PaymentOutcome,
    PaymentStatus,
    ProviderFailure,
    RefundOutcome,
    RefundStatus,
)
from billing.idempotency import Fingerprinted, payment_key
from billing.money import Money
from providers.registry import PROVIDER_NAMES, provider_spec

#: Merchant-chosen ids: letters, digits and ``._:-``, starting with a letter or digit.
MerchantId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]*$")]

#: Every provider an order may name (``providers/registry.py``). What the engine does differently for one
#: provider it reads from that provider's declaration (``providers/<name>/spec.py``, :mod:`providers.spec`):
#: polled, single-shot refunds, create re-send, lapsing checkout, late paying, required customer fields, the
#: longest wait of one call.
PROVIDERS = PROVIDER_NAMES
#: A late-payment watch for orders of a late-paying provider (OrderPolicy.late_payment_watch): 1 min,
#: 10 min, 1 h, 1 day, 7 days.
LATE_PAYMENT_WATCH = (
    timedelta(minutes=1),
    timedelta(minutes=10),
    timedelta(hours=1),
    timedelta(days=1),
    timedelta(days=7),
)
#: What a call limit leaves above the provider's longest wait: connecting, the worker's own work.
CALL_LIMIT_MARGIN = timedelta(seconds=30)
#: A provider call in flight heartbeats (``activities.errors.kept_alive``) every PROVIDER_HEARTBEAT_EVERY
#: once it has waited that long; Temporal gives up an attempt that has not heartbeaten for
#: PROVIDER_HEARTBEAT_TIMEOUT. So a worker that dies while a call waits (a wallet push waits up to two minutes
#: for the payer) is noticed within this, not after the call limit, and the call is reconciled sooner.
PROVIDER_HEARTBEAT_TIMEOUT = timedelta(seconds=30)
PROVIDER_HEARTBEAT_EVERY = timedelta(seconds=5)


def provider_call_limit(provider: str) -> timedelta:
    """The start-to-close limit of one call to ``provider``: its longest documented wait plus a margin.

    Above the wait, so a call still waiting for its answer (a wallet push waiting for the payer) is never
    cut off by Temporal and sent again.
    """
    return provider_spec(provider).longest_wait + CALL_LIMIT_MARGIN


POLLING_SCHEDULE = (timedelta(seconds=3),) * 15 + (timedelta(seconds=10),) * 12 + (timedelta(seconds=30),)


def order_workflow_id(order_id: str) -> str:
    """The workflow id of an order: one workflow per merchant order id, ever."""
    return f"order-{order_id}"


class OrderStatus(StrEnum):
    CREATED = "CREATED"
    PENDING = "PENDING"
    AUTHORIZED = "AUTHORIZED"
    PAID = "PAID"
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"
    REFUNDED = "REFUNDED"
    FAILED = "FAILED"
    EXPIRED = "EXPIRED"
    CANCELLED = "CANCELLED"
    UNKNOWN = "UNKNOWN"
    NEEDS_REVIEW = "NEEDS_REVIEW"


#: Money was received (refunds may follow).
PAID_STATUSES = frozenset({OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED, OrderStatus.REFUNDED})
#: Closed without money received.
CLOSED_STATUSES = frozenset({OrderStatus.FAILED, OrderStatus.EXPIRED, OrderStatus.CANCELLED})
FINAL_STATUSES = PAID_STATUSES | CLOSED_STATUSES
#: Waiting for the provider or the customer.
OPEN_STATUSES = frozenset({OrderStatus.CREATED, OrderStatus.PENDING, OrderStatus.UNKNOWN})


class LatePaymentPolicy(StrEnum):
    """What to do with a payment that succeeded after the order expired or was cancelled."""

    KEEP = "keep"
    REFUND = "refund"


class ClosingReason(StrEnum):
    CANCEL = "cancel"
    DEADLINE = "deadline"
    CAPTURE_WINDOW = "capture_window"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class InquiringPolicy(_Frozen):
    """A policy whose ``inquiry_schedule`` says how long to wait between inquiries (the last repeats)."""

    inquiry_schedule: tuple[timedelta, ...]

    @field_validator("inquiry_schedule")
    @classmethod
    def _non_empty_positive(cls, value: tuple[timedelta, ...]) -> tuple[timedelta, ...]:
        if not value or any(step <= timedelta(0) for step in value):
            raise ValueError("inquiry_schedule needs at least one positive wait")
        return value

    def inquiry_wait(self, inquiries_done: int) -> timedelta:
        return self.inquiry_schedule[min(inquiries_done, len(self.inquiry_schedule) - 1)]


class OrderPolicy(InquiringPolicy):
    """Timing and policy knobs of one order. Defaults suit production; tests shrink them."""

    #: How long the customer has to pay.
    payment_window: timedelta = timedelta(minutes=30)
    #: Waits between inquiries while no notification arrives; the last one repeats.
    inquiry_schedule: tuple[timedelta, ...] = (
        timedelta(seconds=30),
        timedelta(minutes=1),
        timedelta(minutes=2),
        timedelta(minutes=5),
        timedelta(minutes=10),
        timedelta(minutes=30),
    )
    #: Inquiries of an unknown outcome (after the deadline) before an operator must decide.
    unknown_inquiry_limit: int = Field(default=12, ge=1)
    #: How long an authorization waits for capture before it is voided.
    capture_window: timedelta = timedelta(days=7)
    #: How long the order stays open for refunds after it is final.
    refund_window: timedelta = timedelta(days=180)
    late_payment: LatePaymentPolicy = LatePaymentPolicy.KEEP
    #: For a late-paying provider (``ProviderSpec.late_paying``): after the order ended EXPIRED or CANCELLED,
    #: the waits between inquiries that look for a payment made after the close; one more is made as the
    #: refund window ends.
    #: Off unless set (e.g. LATE_PAYMENT_WATCH): see docs/architecture.md, "Late-payment watch".
    late_payment_watch: tuple[timedelta, ...] = LATE_PAYMENT_WATCH
    #: Start-to-close timeout of one provider call. None: :func:`provider_call_limit` of the order's
    #: provider (its longest documented wait plus a margin).
    provider_call_timeout: timedelta | None = None

    def call_limit(self, provider: str) -> timedelta:
        """The start-to-close limit of one call to ``provider`` under this policy."""
        return self.provider_call_timeout or provider_call_limit(provider)

    @classmethod
    def for_provider(cls, provider: str, **fields: object) -> OrderPolicy:
        """The default policy for ``provider``: polled every few seconds when it sends no notifications."""
        if provider_spec(provider).polled:
            fields.setdefault("inquiry_schedule", POLLING_SCHEDULE)
        return cls.model_validate(fields)


class CreateOrder(Fingerprinted, _Frozen):
    """What a merchant asks for. Identical repeats return the same order; different ones conflict."""

    order_id: MerchantId
    provider: str
    amount: Money
    customer: Customer
    description: str | None = Field(default=None, max_length=128)
    capture_mode: CaptureMode = CaptureMode.AUTOMATIC
    payment_method: str | None = None
    success_url: str | None = None
    failure_url: str | None = None
    cancel_url: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    policy: OrderPolicy = OrderPolicy()
    #: A workflow (e.g. the subscription that issued this order) told of the checkout and the outcome.
    notify_workflow_id: str | None = None
    #: A coupon code of the merchant's: ``BillingClient.create_order`` redeems it for this order and asks the
    #: provider for ``amount`` less its discount (``billing.coupons``).
    coupon: str | None = Field(default=None, min_length=1, max_length=64)
    #: Left out of the fingerprint when None, so a request from before coupons keeps its fingerprint.
    fingerprint_omit_none: ClassVar[frozenset[str]] = frozenset({"coupon"})

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, value: str) -> str:
        if value not in PROVIDERS:
            raise ValueError(f"unknown provider {value!r}; expected one of {', '.join(PROVIDERS)}")
        return value

    @field_validator("coupon")
    @classmethod
    def _coupon_code(cls, value: str | None) -> str | None:
        return normalize_code(value)

    @field_validator("amount")
    @classmethod
    def _positive(cls, value: Money) -> Money:
        if not value.is_positive():
            raise InvalidAmountError(f"must be greater than zero, got {value}", field="amount")
        return value

    @model_validator(mode="after")
    def _polled_provider_schedule(self) -> CreateOrder:
        # Unless the caller chose a policy, orders of providers without notifications are polled often.
        if "policy" not in self.model_fields_set:
            fields: dict[str, object] = {}
            limit = provider_spec(self.provider).payment_window_limit(self._method)
            if limit is not None:
                # The provider holds this payment only so long (e.g. while the buyer enters a PIN at the
                # counter), then revokes it: the order's window is that long.
                fields["payment_window"] = limit
            object.__setattr__(self, "policy", OrderPolicy.for_provider(self.provider, **fields))
        return self

    @model_validator(mode="after")
    def _provider_requirements(self) -> CreateOrder:
        spec = provider_spec(self.provider)
        for requirement in spec.requirements(self._method):
            if not getattr(self.customer, requirement.field):
                why = f": {requirement.why}" if requirement.why else ""
                raise InputError(f"required by {self.provider}{why}", field=f"customer.{requirement.field}")
        window = self.policy.payment_window
        window_limit = spec.payment_window_limit(self._method)
        if window_limit is not None and window > window_limit:
            # The provider revokes the payment after that long: a longer window would leave the order waiting
            # for a payment that can no longer happen.
            raise InputError(
                f"{spec.title} holds a payment by this method {window_limit.total_seconds():g} s at most, so a "
                f"{window} window cannot be honoured; leave it unset (--payment-window) to use the "
                "provider's",
                field="policy.payment_window",
            )
        limit = self.policy.provider_call_timeout
        longest = spec.longest_wait
        if self.waits_for_payer and not spec.create_resend and limit is not None and limit <= longest:
            # The create waits for the payer and must not be sent twice: a limit below that wait would cut
            # a payment off while the payer may still approve it.
            raise InputError(
                f"{limit.total_seconds():g} s is not above the {longest.total_seconds():g} s {self.provider} may "
                "wait for the payer; leave it unset to derive it from the provider",
                field="policy.provider_call_timeout",
            )
        return self

    @property
    def _method(self) -> str:
        """The payment method as the provider's declaration reads it: upper-cased, empty when unset."""
        return (self.payment_method or "").upper()

    @property
    def summary(self) -> str:
        return f"Order {self.order_id} · {self.amount} · {self.provider}"

    @property
    def waits_for_payer(self) -> bool:
        """The create call itself waits while the payer approves (``ProviderSpec.waits_for_payer``: a push to
        the payer's handset that blocks until the PIN is entered or refused, a payment held for a PIN)."""
        return provider_spec(self.provider).waits_for_payer(self._method)

    def new_order(self, now: datetime) -> Order:
        """The order this request opens at ``now``: due ``policy.payment_window`` later, paid under the
        request id of its first payment attempt. A failure returns the customer where a cancel would when
        the request names no failure page."""
        return Order(
            order_id=self.order_id,
            provider=self.provider,
            amount=self.amount,
            capture_mode=self.capture_mode,
            customer_id=self.customer.customer_id,
            description=self.description,
            success_url=self.success_url,
            failure_url=self.failure_url or self.cancel_url,
            payment_key=payment_key(self.order_id),
            created_at=now,
            deadline=now + self.policy.payment_window,
        )

    def payment_request(self, order: Order) -> CreatePayment:
        """The provider's create call for ``order`` (opened by :meth:`new_order`): the request's own
        fields, the order's request id, its deadline as the payment's expiry and its creation time."""
        return CreatePayment(
            idempotency_key=order.payment_key,
            merchant_order_id=self.order_id,
            amount=self.amount,
            description=self.description or f"Order {self.order_id}",
            customer=self.customer,
            capture_mode=self.capture_mode,
            payment_method=self.payment_method,
            success_url=self.success_url,
            failure_url=self.failure_url,
            cancel_url=self.cancel_url,
            expires_at=order.deadline,
            requested_at=order.created_at,
        )


class SubmitOrder(_Frozen):
    """The update that accompanies an order's start: which request the caller meant."""

    order_id: str
    fingerprint: str


class OrderUpdate(_Frozen):
    """What an order tells the workflow that issued it: where to pay, then how it ended."""

    order_id: str
    status: OrderStatus
    customer_action: CustomerAction | None = None
    amount: Money
    captured_amount: Money | None = None
    failure: ProviderFailure | None = None


class RedirectHint(_Frozen):
    """What the customer's browser brought back from a provider's page. Unsigned: a reason to inquire."""

    result_token: str | None = Field(default=None, max_length=256)


class CaptureRequest(_Frozen):
    #: None captures the whole authorized amount.
    amount: Money | None = None


class CancelRequest(_Frozen):
    reason: str | None = Field(default=None, max_length=256)


class RefundRequest(_Frozen):
    refund_id: MerchantId
    amount: Money
    reason: str | None = Field(default=None, max_length=256)


class ResolveRequest(_Frozen):
    """An operator's audited decision about an order in NEEDS_REVIEW."""

    operator: str = Field(min_length=1, max_length=64)
    reason: str = Field(min_length=1, max_length=512)
    status: OrderStatus

    @model_validator(mode="after")
    def _final_target(self) -> ResolveRequest:
        if self.status not in {OrderStatus.PAID, OrderStatus.FAILED, OrderStatus.CANCELLED}:
            raise ValueError("status must be PAID, FAILED or CANCELLED")
        return self


class RefundState(StrEnum):
    PENDING = "PENDING"  # sent; waiting for the provider's final statement
    UNKNOWN = "UNKNOWN"  # the call did not conclude; reconciled by refund inquiry
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"  # definitely not refunded; the amount is refundable again
    NEEDS_REVIEW = "NEEDS_REVIEW"


OPEN_REFUND_STATES = frozenset({RefundState.PENDING, RefundState.UNKNOWN, RefundState.NEEDS_REVIEW})
#: A refund in one of these never changes again (an inconclusive answer included).
FINAL_REFUND_STATES = frozenset({RefundState.SUCCEEDED, RefundState.FAILED})
#: How many times a refund the provider says it does not know, after a call that ended without an answer, is
#: sent again with its own key (where the provider deduplicates refunds by it) before it goes to review.
REFUND_RESENDS = 2


class Refund(BaseModel):
    refund_id: str
    amount: Money
    reason: str | None = None
    status: RefundState = RefundState.PENDING
    #: Our provider request id for this refund (derived from the order and refund ids).
    request_key: str
    provider_reference: str | None = None
    failure: ProviderFailure | None = None
    requested_at: datetime
    completed_at: datetime | None = None
    inquiries: int = 0
    #: Issued by the engine (late-payment policy), not by the merchant.
    automatic: bool = False
    #: How many times the refund request was sent with ``request_key`` (the first call and re-sends).
    sends: int = 0
    #: Why the refund waits for an operator (NEEDS_REVIEW), in words an operator can act on.
    review_reason: str | None = None

    def same_request(self, request: RefundRequest) -> bool:
        return self.amount == request.amount and self.reason == request.reason


class TimelineEntry(BaseModel):
    at: datetime
    event: str
    detail: str = ""
    status: OrderStatus | None = None


class Review(BaseModel):
    reason: str
    since: datetime
    resolved_by: str | None = None
    resolution_reason: str | None = None
    resolved_at: datetime | None = None


class Order(BaseModel):
    """The whole state of one order; also what the ``status`` query returns."""

    order_id: str
    provider: str
    status: OrderStatus = OrderStatus.CREATED
    amount: Money
    capture_mode: CaptureMode
    customer_id: str
    description: str | None = None
    #: The merchant's pages the customer returns to (our HTTP service redirects there for providers whose
    #: redirects come back to us first).
    success_url: str | None = None
    failure_url: str | None = None
    payment_key: str
    provider_reference: str | None = None
    provider_status: str | None = None
    customer_action: CustomerAction | None = None
    #: What the provider says the customer paid, when it differs from ``amount`` (fees, FX).
    paid_amount: Money | None = None
    authorized_amount: Money | None = None
    captured_amount: Money | None = None
    #: Capture requests sent so far (each gets its own provider request id) and the latest amount.
    captures_requested: int = 0
    capture_requested: Money | None = None
    failure: ProviderFailure | None = None
    late_payment: bool = False
    #: Why the engine is closing the order at the provider: a merchant cancel or the deadline.
    closing: ClosingReason | None = None
    #: When the engine began to close it (a payment the provider completed after that is late).
    closing_at: datetime | None = None
    refunds: list[Refund] = Field(default_factory=list)
    review: Review | None = None
    created_at: datetime
    deadline: datetime
    authorized_at: datetime | None = None
    paid_at: datetime | None = None
    closed_at: datetime | None = None
    timeline: list[TimelineEntry] = Field(default_factory=list)

    # -- derived ----------------------------------------------------------------------------------

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def refunded(self) -> Money:
        return self._sum(r.amount for r in self.refunds if r.status is RefundState.SUCCEEDED)

    @property
    def refund_reserved(self) -> Money:
        return self._sum(r.amount for r in self.refunds if r.status in OPEN_REFUND_STATES)

    @property
    def refundable(self) -> Money:
        if self.status not in PAID_STATUSES or self.captured_amount is None:
            return Money.zero(self.amount.currency)
        return self.captured_amount - self.refunded - self.refund_reserved

    def _sum(self, amounts: object) -> Money:
        total = Money.zero(self.amount.currency)
        for amount in amounts:  # type: ignore[attr-defined]
            total = total + amount
        return total

    def refund(self, refund_id: str) -> Refund | None:
        return next((r for r in self.refunds if r.refund_id == refund_id), None)

    def open_refunds(self) -> list[Refund]:
        return [r for r in self.refunds if r.status in (RefundState.PENDING, RefundState.UNKNOWN)]

    # -- recording --------------------------------------------------------------------------------

    def note(self, at: datetime, event: str, detail: str = "") -> None:
        self.timeline.append(TimelineEntry(at=at, event=event, detail=detail, status=self.status))

    def move(self, status: OrderStatus, at: datetime, event: str, detail: str = "") -> None:
        previous = self.status
        self.status = status
        if status in PAID_STATUSES and self.paid_at is None:
            self.paid_at = at
        if status in FINAL_STATUSES and self.closed_at is None:
            self.closed_at = at
        self.note(at, event, f"{previous} -> {status}" + (f": {detail}" if detail else ""))

    def begin_closing(self, reason: ClosingReason, at: datetime) -> None:
        """The engine is about to close the order at the provider (cancel, deadline, capture window)."""
        self.closing = reason
        self.closing_at = at
        self.note(at, "closing", reason.value)

    def flag_for_review(self, reason: str, at: datetime) -> None:
        self.review = Review(reason=reason, since=at)
        self.move(OrderStatus.NEEDS_REVIEW, at, "needs_review", reason)

    # -- provider statements ----------------------------------------------------------------------

    def apply_payment(self, outcome: PaymentOutcome, *, source: str, at: datetime) -> bool:
        """Apply a verified provider statement. Returns True when the status changed."""
        before = self.status
        if outcome.provider_reference and not self.provider_reference:
            self.provider_reference = outcome.provider_reference
        if outcome.customer_action is not None and self.customer_action is None:
            self.customer_action = outcome.customer_action
        if outcome.paid_amount is not None and outcome.paid_amount.currency == self.amount.currency:
            self.paid_amount = outcome.paid_amount
        self.provider_status = outcome.provider_status or self.provider_status
        label = outcome.provider_status or outcome.status.value
        status = outcome.status

        if (
            outcome.amount is not None
            and outcome.amount != self.amount
            and status
            in (
                PaymentStatus.SUCCEEDED,
                PaymentStatus.AUTHORIZED,
            )
        ):
            self.note(at, source, f"{label} for {outcome.amount}, expected {self.amount}")
            if self.status is not OrderStatus.NEEDS_REVIEW:
                self.flag_for_review(f"provider reports {outcome.amount}, order is {self.amount}", at)
            return True

        if self.status in PAID_STATUSES or (
            self.status is OrderStatus.AUTHORIZED and status is PaymentStatus.AUTHORIZED
        ):
            if status is PaymentStatus.SUCCEEDED and not self.late_payment and not self.refunds:
                # A statement without a payment time (an "already paid" answer to a cancel) made the order
                # PAID; the inquiry that confirms it states the time, which alone says whether it was late.
                self.late_payment = self._paid_after_close(outcome) is True
            self.note(at, source, f"{label} (no change: order is {self.status}{', late' if self.late_payment else ''})")
            return False

        if status is PaymentStatus.SUCCEEDED:
            paid_after_close = self._paid_after_close(outcome)
            late = self.status in CLOSED_STATUSES if paid_after_close is None else paid_after_close
            if self.status is OrderStatus.NEEDS_REVIEW and self.review is not None:
                self.review.resolution_reason = f"provider statement via {source}"
                self.review.resolved_at = at
            if self.captured_amount is None:
                self.captured_amount = self.capture_requested or self.authorized_amount or self.amount
            self.late_payment = self.late_payment or late
            self.move(OrderStatus.PAID, at, source, label + (" (late)" if late else ""))
            return True

        if self.status in CLOSED_STATUSES:
            self.note(at, source, f"{label} (no change: order is {self.status})")
            return False

        if status is PaymentStatus.AUTHORIZED:
            self.authorized_amount = outcome.amount or self.amount
            self.authorized_at = at
            self.move(OrderStatus.AUTHORIZED, at, source, label)
        elif status in (PaymentStatus.DECLINED, PaymentStatus.CLOSED):
            self.failure = outcome.failure or self.failure
            self.move(self._closed_status(at, outcome), at, source, _failure_text(outcome.failure, label))
        elif self.status in (OrderStatus.CREATED, OrderStatus.UNKNOWN):
            self.move(OrderStatus.PENDING, at, source, label)
        else:
            self.note(at, source, label)
        return self.status is not before

    def _closed_status(self, at: datetime, outcome: PaymentOutcome) -> OrderStatus:
        """What a close or decline statement ends the order as; see the module docstring."""
        if outcome.failure is not None and outcome.completed_at is not None:
            limit = self.deadline if self.closing_at is None else min(self.deadline, self.closing_at)
            if outcome.completed_at < limit:
                # Declined (by the provider's own time) before the deadline and before the engine closed
                # anything: a genuine decline, however late the statement reached the engine.
                return OrderStatus.FAILED
        if self.closing in (ClosingReason.CANCEL, ClosingReason.CAPTURE_WINDOW):
            return OrderStatus.CANCELLED
        if self.closing is ClosingReason.DEADLINE:
            # The engine closed it; a failure reason the provider attaches (expiry) does not make it a decline.
            return OrderStatus.EXPIRED
        if (outcome.completed_at or at) >= self.deadline:
            # The provider closed it itself at or after the deadline (its own expiry): expired, not declined.
            return OrderStatus.EXPIRED
        return OrderStatus.FAILED

    def _paid_after_close(self, outcome: PaymentOutcome) -> bool | None:
        """Whether the provider's payment time is after the deadline (or the engine's close); None: no time."""
        if outcome.completed_at is None:
            return None
        limit = self.deadline if self.closing_at is None else min(self.deadline, self.closing_at)
        return outcome.completed_at > limit

    def checkout_lapsed(self, at: datetime) -> bool:
        """The customer's checkout lapsed unpaid (``ProviderSpec.lapsing_checkout``) and the deadline passed."""
        action = self.customer_action
        return (
            self.status is OrderStatus.PENDING
            and provider_spec(self.provider).lapsing_checkout
            and action is not None
            and action.expires_at is not None
            and at >= max(action.expires_at, self.deadline)
        )

    def mark_unknown(self, reason: str, at: datetime) -> None:
        if self.status in (OrderStatus.CREATED, OrderStatus.PENDING):
            self.move(OrderStatus.UNKNOWN, at, "outcome_unknown", reason)
        else:
            self.note(at, "outcome_unknown", reason)

    # -- merchant commands: validation (no side effects) ------------------------------------------

    def check_capture(self, request: CaptureRequest) -> Money:
        if self.status is not OrderStatus.AUTHORIZED:
            raise InvalidStateError(f"only an AUTHORIZED order can be captured; order is {self.status}")
        authorized = self.authorized_amount or self.amount
        amount = request.amount or authorized
        if amount.currency != authorized.currency:
            raise InvalidAmountError(f"currency must be {authorized.currency}", field="amount")
        if not amount.is_positive():
            raise InvalidAmountError("must be greater than zero", field="amount")
        if amount > authorized:
            raise InvalidAmountError(f"{amount} is more than the authorized {authorized}", field="amount")
        return amount

    def check_cancel(self) -> None:
        if self.status not in (*OPEN_STATUSES, OrderStatus.AUTHORIZED):
            raise InvalidStateError(f"only an unpaid order can be cancelled; order is {self.status}")

    def check_refund(self, request: RefundRequest) -> Refund | None:
        """Validate a refund. Returns the existing refund for an identical replay."""
        existing = self.refund(request.refund_id)
        if existing is not None:
            if existing.same_request(request):
                return existing
            raise ConflictError(f"refund {request.refund_id} exists with amount {existing.amount}", field="refund_id")
        if self.status not in PAID_STATUSES:
            raise InvalidStateError(f"only a paid order can be refunded; order is {self.status}")
        if request.amount.currency != self.amount.currency:
            raise InvalidAmountError(f"currency must be {self.amount.currency}", field="amount")
        if not request.amount.is_positive():
            raise InvalidAmountError("must be greater than zero", field="amount")
        if request.amount > self.refundable:
            raise InvalidAmountError(f"{request.amount} is more than the refundable {self.refundable}", field="amount")
        return None

    def check_resolve(self, request: ResolveRequest) -> None:
        if self.status is not OrderStatus.NEEDS_REVIEW:
            raise InvalidStateError(f"only an order in NEEDS_REVIEW can be resolved; order is {self.status}")

    # -- refunds ----------------------------------------------------------------------------------

    def add_refund(self, refund: Refund, at: datetime) -> None:
        self.refunds.append(refund)
        self.note(at, "refund_requested", f"{refund.refund_id}: {refund.amount}")

    def apply_refund(self, refund: Refund, outcome: RefundOutcome, *, source: str, at: datetime) -> bool:
        """Apply a provider statement about one refund. Final refund states never move back."""
        if outcome.provider_reference and not refund.provider_reference:
            refund.provider_reference = outcome.provider_reference
        label = outcome.provider_status or outcome.status.value
        if refund.status in (RefundState.SUCCEEDED, RefundState.FAILED):
            self.note(at, source, f"refund {refund.refund_id}: {label} (no change: {refund.status})")
            return False
        if outcome.status is RefundStatus.SUCCEEDED:
            refund.status = RefundState.SUCCEEDED
            refund.completed_at = at
        elif outcome.status is RefundStatus.FAILED:
            refund.status = RefundState.FAILED
            refund.failure = outcome.failure
            refund.completed_at = at
        else:
            if refund.status is RefundState.UNKNOWN:
                refund.status = RefundState.PENDING
            self.note(at, source, f"refund {refund.refund_id}: {label}")
            return False
        self.note(at, source, f"refund {refund.refund_id}: {label}")
        self._settle_refund_status(at)
        return True

    def refund_unknown(self, refund: Refund, reason: str, *, source: str, at: datetime) -> bool:
        """A refund call ended without an answer. A final refund state is never left for UNKNOWN.

        A notification or an inquiry may have settled the refund while its call was in flight; the
        call's inconclusive end then says nothing new. Returns whether the refund became UNKNOWN.
        """
        if refund.status in FINAL_REFUND_STATES:
            self.note(at, source, f"{refund.refund_id}: no answer ({reason}); stays {refund.status}")
            return False
        refund.status = RefundState.UNKNOWN
        self.note(at, source, f"{refund.refund_id}: unknown: {reason}")
        return True

    def refund_needs_review(self, refund: Refund, reason: str, at: datetime) -> bool:
        """Hand an unresolved refund to an operator, with the reason. Final refund states stay final."""
        if refund.status in FINAL_REFUND_STATES:
            return False
        refund.status = RefundState.NEEDS_REVIEW
        refund.review_reason = reason
        self.note(at, "needs_review", f"refund {refund.refund_id}: {reason}")
        return True

    def _settle_refund_status(self, at: datetime) -> None:
        if self.status not in PAID_STATUSES or self.captured_amount is None:
            return
        refunded = self.refunded
        if refunded.is_zero():
            target = OrderStatus.PAID
        elif refunded >= self.captured_amount:
            target = OrderStatus.REFUNDED
        else:
            target = OrderStatus.PARTIALLY_REFUNDED
        if target is not self.status:
            self.move(target, at, "refunds", f"refunded {refunded} of {self.captured_amount}")


def _failure_text(failure: ProviderFailure | None, label: str) -> str:
    return f"{label}: {failure.code} {failure.message}" if failure else label
