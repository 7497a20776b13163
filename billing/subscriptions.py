"""Subscriptions: the normalized lifecycle, pure and deterministic.

``SubscriptionWorkflow`` holds one :class:`Subscription` and asks it what every provider statement and
merchant command means. Nothing here does I/O or reads the clock.

::

    INCOMPLETE (first payment / authorization pending) -> TRIALING -> ACTIVE
    ACTIVE -> PAST_DUE (a renewal failed; the provider or the engine retries) -> ACTIVE | UNPAID | CANCELLED
    ACTIVE -> CANCELLED (now, or at period end: resumable until then) | EXPIRED (fixed term done)

Billing modes, chosen by provider capability (each provider's declaration, ``providers/<name>/spec.py``):

* ``provider_managed`` (native subscriptions): the provider charges every period; the engine
  mirrors each period from its notifications (a payment notification per attempt, a period-changed
  notification per period), with a deadline per period after which it inquires.
* ``engine_charged`` / ``engine_invoiced``: the engine charges or invoices each period through a child
  order (for providers without native subscriptions).

Benefits are granted once per period, however many notifications report the same period paid.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from enum import StrEnum
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from billing.calendar import BillingCalendar, Period
from billing.coupons import AppliedCoupon, normalize_code, period_discount
from billing.errors import InputError, InvalidAmountError, InvalidStateError
from billing.events import EventLog
from billing.gateway import (
    CancelledBy,
    Customer,
    CustomerAction,
    PaymentOutcome,
    PaymentStatus,
    SubscriptionOutcome,
    SubscriptionPlan,
)
from billing.gateway import (
    SubscriptionStatus as ProviderSubscriptionStatus,
)
from billing.idempotency import Fingerprinted
from billing.invoices import CreditNote, Invoice, InvoiceLine, InvoiceNumber, InvoiceState, LineKind, transition
from billing.money import Money
from billing.orders import InquiringPolicy, MerchantId, OrderStatus, OrderUpdate
from billing.proration import Proration, prorate, restart_cycle
from providers.registry import PROVIDER_NAMES, provider_spec

SUBSCRIPTION_PROVIDERS = PROVIDER_NAMES


def subscription_workflow_id(subscription_id: str) -> str:
    """One workflow per merchant subscription id, for the subscription's whole life."""
    return f"subscription-{subscription_id}"


_INVOICE_ID = re.compile(r"^(?P<subscription>.+?)(?:-g\d+)?-[pc]\d+$")


def subscription_of_invoice(invoice_id: str) -> str | None:
    """The subscription an invoice id names (``SUB-7-p2``, ``SUB-7-g2-p1``, ``SUB-7-c1`` -> ``SUB-7``)."""
    match = _INVOICE_ID.match(invoice_id)
    return match.group("subscription") if match else None


class SubscriptionStatus(StrEnum):
    INCOMPLETE = "INCOMPLETE"
    TRIALING = "TRIALING"
    ACTIVE = "ACTIVE"
    PAST_DUE = "PAST_DUE"
    UNPAID = "UNPAID"
    PAUSED = "PAUSED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"


FINAL_SUBSCRIPTION_STATUSES = frozenset({SubscriptionStatus.CANCELLED, SubscriptionStatus.EXPIRED})
LIVE_STATUSES = frozenset({SubscriptionStatus.TRIALING, SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE})


class BillingMode(StrEnum):
    PROVIDER_MANAGED = "provider_managed"
    ENGINE_CHARGED = "engine_charged"
    ENGINE_INVOICED = "engine_invoiced"


ENGINE_MODES = frozenset({BillingMode.ENGINE_CHARGED, BillingMode.ENGINE_INVOICED})


class DunningOutcome(StrEnum):
    """Where a subscription ends when every retry of a period failed."""

    UNPAID = "unpaid"
    CANCEL = "cancel"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SubscriptionPolicy(InquiringPolicy):
    """Timing knobs of one subscription; they travel with it across continue-as-new."""

    #: How long the customer has for the first payment / authorization.
    authorization_window: timedelta = timedelta(hours=4)
    #: After a period's expected payment date, how long to wait for the provider's statement before
    #: inquiring.
    renewal_grace: timedelta = timedelta(hours=6)
    #: Waits between inquiries while a statement is overdue; the last one repeats.
    inquiry_schedule: tuple[timedelta, ...] = (timedelta(hours=1), timedelta(hours=6), timedelta(days=1))
    #: Start-to-close timeout of one provider call. None: ``billing.orders.provider_call_limit`` of the
    #: subscription's provider (its longest documented wait plus a margin).
    provider_call_timeout: timedelta | None = None
    #: After the subscription ended, how long it stays open to record late provider statements (a renewal
    #: charge that raced the cancel is money received and must be seen).
    final_watch: timedelta = timedelta(days=30)
    #: A change "at period end" of a provider-managed subscription is made this long before the end, so it
    #: never races the provider's own renewal of the old plan.
    change_lead: timedelta = timedelta(hours=1)
    #: Continue as new once the run's history is this long, besides Temporal's own suggestion (which
    #: comes at thousands of events); smaller values keep replays of busy subscriptions cheap.
    max_history_events: int | None = Field(default=None, ge=20)
    #: Engine modes: how long the customer has to pay each period's invoice.
    invoice_due: timedelta = timedelta(days=7)
    #: Engine modes: waits before each new attempt after a failed period (1, 3 and 5 days by default).
    dunning_schedule: tuple[timedelta, ...] = (timedelta(days=1), timedelta(days=3), timedelta(days=5))
    dunning_exhausted: DunningOutcome = DunningOutcome.UNPAID


class StartSubscription(Fingerprinted, _Frozen):
    """What a merchant asks for. Identical repeats return the same subscription."""

    subscription_id: MerchantId
    provider: str
    plan: SubscriptionPlan
    customer: Customer
    policy: SubscriptionPolicy = SubscriptionPolicy()
    success_url: str | None = None
    failure_url: str | None = None
    cancel_url: str | None = None
    #: None: the provider's default (``ProviderSpec.default_billing_mode``).
    billing_mode: BillingMode | None = None
    #: Engine modes: a free trial before the first paid period.
    trial_days: int | None = Field(default=None, ge=1, le=730)
    #: Engine modes: when the first paid period starts (after any trial); None is now.
    billing_anchor: datetime | None = None
    #: Engine modes: a coupon code of the merchant's, redeemed for this subscription from its first period.
    coupon: str | None = Field(default=None, min_length=1, max_length=64)
    #: Left out of the fingerprint when None, so a request from before coupons keeps its fingerprint.
    fingerprint_omit_none: ClassVar[frozenset[str]] = frozenset({"coupon"})

    @model_validator(mode="after")
    def _mode_fits(self) -> StartSubscription:
        mode = self.mode
        spec = provider_spec(self.provider)
        if mode.value not in spec.billing_modes:
            raise InputError(f"{self.provider} does not offer {mode.value} billing", field="billing_mode")
        if mode is BillingMode.PROVIDER_MANAGED and self.trial_days:
            # The provider runs the trial itself: it is part of the plan it charges.
            raise InputError(
                f"the provider runs the trial in {mode.value} billing: set plan.trial_periods "
                "(and plan.trial_amount) instead",
                field="trial_days",
            )
        if mode is BillingMode.PROVIDER_MANAGED and self.billing_anchor:
            raise InputError(f"the provider sets its own calendar in {mode.value} billing", field="billing_anchor")
        if mode is BillingMode.PROVIDER_MANAGED and self.coupon:
            raise InputError(
                f"the provider charges the plan's price itself in {mode.value} billing; coupons apply in engine modes",
                field="coupon",
            )
        if mode in ENGINE_MODES and len(self.subscription_id) > 48:
            raise InputError(
                "at most 48 characters in engine billing (period orders extend it)", field="subscription_id"
            )
        if self.billing_anchor is not None and self.billing_anchor.tzinfo is None:
            raise InputError("must include a time zone", field="billing_anchor")
        if self.billing_anchor is not None and self.trial_days:
            raise InputError("choose a trial or a billing anchor, not both", field="billing_anchor")
        return self

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, value: str) -> str:
        if value not in SUBSCRIPTION_PROVIDERS:
            raise ValueError(f"unknown provider {value!r}; expected one of {', '.join(SUBSCRIPTION_PROVIDERS)}")
        return value

    @field_validator("coupon")
    @classmethod
    def _coupon_code(cls, value: str | None) -> str | None:
        return normalize_code(value)

    @field_validator("plan")
    @classmethod
    def _priced(cls, value: SubscriptionPlan) -> SubscriptionPlan:
        if not value.amount.is_positive():
            raise InvalidAmountError("must be greater than zero", field="plan.amount")
        return value

    def check_new(self) -> None:
        """The customer fields the provider needs to bill this subscription's periods in its mode
        (``ProviderSpec.subscription_requirements``); InputError naming the first one missing.

        Checked when the subscription is created (``BillingClient.create_subscription``), not when a running
        subscription's input is read back: a requirement declared later never stops one already running."""
        for requirement in provider_spec(self.provider).subscription_requirements(self.mode.value):
            if not getattr(self.customer, requirement.field):
                why = f": {requirement.why}" if requirement.why else ""
                raise InputError(f"required by {self.provider}{why}", field=f"customer.{requirement.field}")

    @property
    def mode(self) -> BillingMode:
        return self.billing_mode or BillingMode(provider_spec(self.provider).default_billing_mode)

    @property
    def summary(self) -> str:
        plan = self.plan
        every = f"{plan.interval_count} {plan.interval.value}s" if plan.interval_count > 1 else plan.interval.value
        return f"Subscription {self.subscription_id} · {plan.amount} / {every} · {self.provider}"


class SubmitSubscription(_Frozen):
    subscription_id: str
    fingerprint: str


class CancelSubscriptionRequest(_Frozen):
    #: True cancels at the end of the current period (resumable until then); False cancels now.
    at_period_end: bool = False
    reason: str | None = Field(default=None, max_length=256)


class ResumeSubscriptionRequest(_Frozen):
    reason: str | None = Field(default=None, max_length=256)


class PauseSubscriptionRequest(_Frozen):
    reason: str | None = Field(default=None, max_length=256)


class ApplyCouponRequest(_Frozen):
    """Apply a coupon of the merchant's to a running subscription (engine modes), from its next period."""

    code: str = Field(min_length=1, max_length=64)


class ManagementLinkRequest(_Frozen):
    """Ask for the provider's customer management page (no parameters yet)."""


class ChangePlanRequest(_Frozen):
    plan: SubscriptionPlan
    #: False changes now (prorated); True at the end of the current period.
    at_period_end: bool = False


class PendingChange(BaseModel):
    """A plan change in flight: the new generation waits for the provider (and maybe the customer)."""

    generation: int
    request_key: str
    plan: SubscriptionPlan
    proration: Proration | None = None
    #: Not sent yet: waiting for the period end.
    scheduled: bool = False
    provider_reference: str | None = None
    customer_action: CustomerAction | None = None
    requested_at: datetime


class PeriodStatus(StrEnum):
    PENDING = "PENDING"  # not charged yet, or the charge is in flight
    PAID = "PAID"
    FAILED = "FAILED"  # the latest attempt failed; more may follow


class BillingPeriodRecord(BaseModel):
    #: Which plan generation the period belongs to (a plan change starts a new one at period 1).
    generation: int = 1
    number: int
    start: datetime | None = None
    end: datetime | None = None
    amount: Money | None = None
    status: PeriodStatus = PeriodStatus.PENDING
    attempts: int = 0
    provider_reference: str | None = None
    paid_at: datetime | None = None
    #: Benefits for this period were granted (exactly once).
    granted: bool = False
    #: The latest failed attempt was a hard decline: retrying would not help, so dunning stops.
    hard_failure: bool = False
    #: Engine modes: the period's current invoice order and where the customer pays it (a URL or a QR).
    order_id: str | None = None
    checkout_url: str | None = None


class Adjustment(BaseModel):
    """A one-off charge outside the period invoices (engine modes: the net of an upgrade)."""

    order_id: str
    amount: Money
    reason: str
    status: PeriodStatus = PeriodStatus.PENDING
    checkout_url: str | None = None


class TimelineEntry(BaseModel):
    at: datetime
    event: str
    detail: str = ""
    status: SubscriptionStatus | None = None


class Subscription(BaseModel):
    """The whole state of one subscription; also what the ``status`` query returns."""

    subscription_id: str
    provider: str
    mode: BillingMode
    status: SubscriptionStatus = SubscriptionStatus.INCOMPLETE
    plan: SubscriptionPlan
    customer_id: str
    #: Our provider request id for the current generation (a plan change makes a new one).
    request_key: str
    generation: int = 1
    provider_reference: str | None = None
    provider_status: str | None = None
    customer_action: CustomerAction | None = None
    management_url: str | None = None
    calendar: BillingCalendar | None = None
    #: The last period the provider or the engine reported on (0 before activation).
    current_period: int = 0
    periods: list[BillingPeriodRecord] = Field(default_factory=list)
    next_billing_at: datetime | None = None
    cancel_at_period_end: bool = False
    cancelled_by: CancelledBy | None = None
    cancelled_at: datetime | None = None
    credit_balance: Money
    pending_change: PendingChange | None = None
    adjustments: list[Adjustment] = Field(default_factory=list)
    #: Engine modes: the coupon redeemed for it and the periods it covers (``billing.coupons``).
    coupon: AppliedCoupon | None = None
    #: Every invoice of the subscription, oldest first (see "Invoices" below).
    invoices: list[Invoice] = Field(default_factory=list)
    #: Credit notes of its invoices, oldest first: one per refund that succeeded (``billing.credit_notes``).
    credit_notes: list[CreditNote] = Field(default_factory=list)
    #: Provider-managed: periods from this (generation, number) on get invoices; None before invoicing began
    #: (a subscription that predates invoices starts with its next period).
    invoices_from: tuple[int, int] | None = None
    created_at: datetime
    activation_deadline: datetime
    timeline: list[TimelineEntry] = Field(default_factory=list)

    # -- recording --------------------------------------------------------------------------------

    def note(self, at: datetime, event: str, detail: str = "") -> None:
        self.timeline.append(TimelineEntry(at=at, event=event, detail=detail, status=self.status))

    def move(self, status: SubscriptionStatus, at: datetime, event: str, detail: str = "") -> None:
        previous, self.status = self.status, status
        if status is SubscriptionStatus.CANCELLED and self.cancelled_at is None:
            self.cancelled_at = at
        self.note(at, event, f"{previous} -> {status}" + (f": {detail}" if detail else ""))

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_SUBSCRIPTION_STATUSES

    def period_record(self, number: int) -> BillingPeriodRecord:
        for record in self.periods:
            if record.number == number and record.generation == self.generation:
                return record
        record = BillingPeriodRecord(generation=self.generation, number=number, amount=self.plan.amount)
        if self.calendar is not None and (self.calendar.periods is None or number <= self.calendar.periods):
            period = self.calendar.period(number)
            record.start, record.end = period.start, period.end
        self.periods.append(record)
        self.periods.sort(key=lambda r: (r.generation, r.number))
        return record

    def current_period_window(self) -> Period | None:
        if self.calendar is None or self.current_period < 1:
            return None
        return self.calendar.period(self.current_period)

    def refresh_next_billing(self) -> None:
        if (
            self.calendar is None
            or self.is_final
            or self.status in (SubscriptionStatus.UNPAID, SubscriptionStatus.PAUSED)
        ):
            self.next_billing_at = None
            return
        upcoming = self.current_period + 1
        if self.calendar.periods is not None and upcoming > self.calendar.periods:
            self.next_billing_at = None
        else:
            self.next_billing_at = self.calendar.period_start(upcoming)

    # -- provider statements ----------------------------------------------------------------------

    def activate(self, anchor: datetime, at: datetime, source: str) -> None:
        """The first payment succeeded: the billing calendar starts at ``anchor``."""
        if self.calendar is None:
            self.calendar = BillingCalendar(
                anchor=anchor,
                interval=self.plan.interval,
                interval_count=self.plan.interval_count,
                periods=self.plan.periods,
            )
            for record in self.periods:
                if record.generation == self.generation:
                    period = self.calendar.period(record.number)
                    record.start, record.end = period.start, period.end
        if self.status is SubscriptionStatus.INCOMPLETE:
            self.move(SubscriptionStatus.ACTIVE, at, source, "first payment succeeded")
        self.refresh_next_billing()

    def apply_period_payment(self, outcome: PaymentOutcome, *, source: str, at: datetime) -> bool:
        """A payment attempt for one period. Returns True when something changed."""
        number = outcome.subscription_period or max(self.current_period, 1)
        label = outcome.provider_status or outcome.status.value
        if self.is_final and outcome.status is not PaymentStatus.SUCCEEDED:
            self.note(at, source, f"period {number}: {label} (no change: {self.status})")
            return False
        if outcome.status is PaymentStatus.SUCCEEDED:
            if number == 1 or self.calendar is None:
                # The engine's calendar starts when it learns of the first payment (seconds after the
                # provider's own anchor): its deadlines and the provider's period numbers stay aligned,
                # and the workflow clock alone decides, deterministically.
                self.activate(at, at, source)
            record = self.period_record(number)
            record.provider_reference = outcome.provider_reference or record.provider_reference
            if record.status is PeriodStatus.PAID:
                self.note(at, source, f"period {number}: {label} (already paid)")
                return False
            record.status = PeriodStatus.PAID
            record.paid_at = at
            record.attempts += 1
            if outcome.amount is not None:
                record.amount = outcome.amount
            self.current_period = max(self.current_period, number)
            if self.status is SubscriptionStatus.PAST_DUE and not self._unpaid_periods():
                self.move(SubscriptionStatus.ACTIVE, at, source, f"period {number} paid")
            else:
                self.note(at, source, f"period {number} paid")
            self.refresh_next_billing()
            return True
        if outcome.status in (PaymentStatus.DECLINED, PaymentStatus.CLOSED):
            record = self.period_record(number)
            if record.status is PeriodStatus.PAID:
                self.note(at, source, f"period {number}: {label} (already paid)")
                return False
            record.status = PeriodStatus.FAILED
            record.attempts += 1
            failure = outcome.failure
            detail = f"period {number} attempt {record.attempts} failed" + (
                f": {failure.code} {failure.message}" if failure else ""
            )
            if number > 1 and self.status is SubscriptionStatus.ACTIVE:
                self.move(SubscriptionStatus.PAST_DUE, at, source, detail)
            else:
                self.note(at, source, detail)
            return True
        self.note(at, source, f"period {number}: {label}")
        return False

    def _unpaid_periods(self) -> list[int]:
        return [
            r.number
            for r in self.periods
            if r.generation == self.generation and r.number > 1 and r.status is not PeriodStatus.PAID
        ]

    def grant_due(self) -> list[BillingPeriodRecord]:
        """Paid periods whose benefits were not granted yet; marks them granted (once, ever)."""
        due = [r for r in self.periods if r.status is PeriodStatus.PAID and not r.granted]
        for record in due:
            record.granted = True
        return due

    def apply_provider_status(self, outcome: SubscriptionOutcome, *, source: str, at: datetime) -> bool:
        """The provider's statement about the subscription itself (status notification or inquiry)."""
        change = self.pending_change
        if change is not None and outcome.idempotency_key == change.request_key:
            if outcome.status is ProviderSubscriptionStatus.ACTIVE:
                self.complete_change(at, at, source)
                return True
            if outcome.status in (ProviderSubscriptionStatus.CLOSED, ProviderSubscriptionStatus.CANCELLED):
                self.pending_change = None
                self.note(at, source, f"plan change to {change.plan.plan_id} closed: {outcome.provider_status}")
                return True
            change.provider_reference = outcome.provider_reference or change.provider_reference
            self.note(at, source, f"plan change: {outcome.provider_status or outcome.status.value}")
            return False
        if outcome.idempotency_key and outcome.idempotency_key != self.request_key:
            self.note(at, source, f"about an earlier generation ({outcome.provider_status}): recorded only")
            return False
        if (
            change is not None
            and not change.scheduled
            and outcome.status is ProviderSubscriptionStatus.CANCELLED
            and outcome.cancelled_by is CancelledBy.MERCHANT
        ):
            # A provider-side change replaces the subscription: the old one closing is part of the change.
            self.note(at, source, f"{outcome.provider_status}: replaced by the plan change to {change.plan.plan_id}")
            return False
        if outcome.provider_reference and not self.provider_reference:
            self.provider_reference = outcome.provider_reference
        if outcome.customer_action is not None and self.customer_action is None:
            self.customer_action = outcome.customer_action
        if outcome.management_url:
            self.management_url = outcome.management_url
        self.provider_status = outcome.provider_status or self.provider_status
        for payment in outcome.payments:
            # Statements repeat every known period; only news is applied (and recorded).
            known = next(
                (r for r in self.periods if r.generation == self.generation and r.number == payment.period), None
            )
            if known is not None and (
                known.status is PeriodStatus.PAID or payment.status is not PaymentStatus.SUCCEEDED
            ):
                continue
            self.apply_period_payment(
                PaymentOutcome(
                    status=payment.status,
                    provider_reference=payment.provider_reference,
                    amount=payment.amount,
                    subscription_period=payment.period,
                    provider_status=payment.status.value,
                ),
                source=source,
                at=at,
            )
        label = outcome.provider_status or outcome.status.value
        if self.is_final:
            self.note(at, source, f"{label} (no change: {self.status})")
            return False
        status = outcome.status
        if status is ProviderSubscriptionStatus.ACTIVE:
            if self.status is SubscriptionStatus.INCOMPLETE:
                self.activate(at, at, source)
                return True
            return False
        if status is ProviderSubscriptionStatus.CANCELLED:
            self.cancelled_by = outcome.cancelled_by
            self.move(SubscriptionStatus.CANCELLED, at, source, f"{label} by {outcome.cancelled_by or 'provider'}")
            self.refresh_next_billing()
            return True
        if status is ProviderSubscriptionStatus.CLOSED:
            self.cancelled_by = CancelledBy.PROVIDER
            self.move(SubscriptionStatus.CANCELLED, at, source, f"{label}: never became active")
            self.refresh_next_billing()
            return True
        if status is ProviderSubscriptionStatus.EXPIRED:
            self.move(SubscriptionStatus.EXPIRED, at, source, label)
            self.refresh_next_billing()
            return True
        self.note(at, source, label)
        return False

    # -- engine modes: invoices through child orders ----------------------------------------------

    def period_order_id(self, number: int, attempt: int) -> str:
        """The order that bills a period: one id per attempt, so a period is paid at most once, ever."""
        base = f"{self.subscription_id}-p{number}"
        return base if attempt == 0 else f"{base}-r{attempt}"

    def apply_order_update(self, update: OrderUpdate, *, at: datetime) -> bool:
        """An invoice order reported where to pay, or how it ended. True when the period settled."""
        adjustment = next((a for a in self.adjustments if a.order_id == update.order_id), None)
        if adjustment is not None:
            return self._apply_adjustment_update(adjustment, update, at)
        record = next((r for r in self.periods if r.order_id == update.order_id), None)
        if record is None:
            self.note(at, "invoice", f"update for an unknown order {update.order_id}")
            return False
        if update.customer_action is not None and (update.customer_action.url or update.customer_action.qr):
            record.checkout_url = update.customer_action.url or update.customer_action.qr
        if update.status in (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED, OrderStatus.REFUNDED):
            if record.status is PeriodStatus.PAID:
                return False
            record.status = PeriodStatus.PAID
            record.paid_at = at
            record.amount = update.captured_amount or update.amount
            self.move_invoice(self.period_invoice_id(record), InvoiceState.PAID, at, order_id=update.order_id)
            self.current_period = max(self.current_period, record.number)
            if self.status in (SubscriptionStatus.TRIALING, SubscriptionStatus.PAST_DUE, SubscriptionStatus.INCOMPLETE):
                self.move(SubscriptionStatus.ACTIVE, at, "invoice", f"period {record.number} paid ({update.order_id})")
            else:
                self.note(at, "invoice", f"period {record.number} paid ({update.order_id})")
            self.refresh_next_billing()
            return True
        if update.status in (OrderStatus.FAILED, OrderStatus.EXPIRED, OrderStatus.CANCELLED):
            record.status = PeriodStatus.FAILED
            record.hard_failure = update.failure is not None and update.failure.hard
            if self.is_final:
                # Cancelled while this attempt was in flight: it was the last, nothing was charged.
                self.move_invoice(self.period_invoice_id(record), InvoiceState.VOID, at)
            detail = f"period {record.number}: invoice {update.order_id} {update.status.value.lower()}"
            if update.failure is not None:
                detail += f" ({update.failure.code} {update.failure.message})"
            if self.status is SubscriptionStatus.ACTIVE:
                self.move(SubscriptionStatus.PAST_DUE, at, "invoice", detail)
            else:
                self.note(at, "invoice", detail)
            return True
        self.note(at, "invoice", f"period {record.number}: invoice {update.order_id} {update.status.value.lower()}")
        return False

    def adjustment_in_flight(self) -> bool:
        """An upgrade's charge was asked and has not ended, and no checkout or QR waits for the customer."""
        return any(a.status is PeriodStatus.PENDING and a.checkout_url is None for a in self.adjustments)

    def _apply_adjustment_update(self, adjustment: Adjustment, update: OrderUpdate, at: datetime) -> bool:
        if update.customer_action is not None and update.customer_action.url:
            adjustment.checkout_url = update.customer_action.url
        if update.status in (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED, OrderStatus.REFUNDED):
            if adjustment.status is PeriodStatus.PAID:  # reported again (a refund later, say): paid once
                return False
            adjustment.status = PeriodStatus.PAID
            self.move_invoice(adjustment.order_id, InvoiceState.PAID, at)
            self.note(at, "adjustment", f"{adjustment.reason}: {adjustment.amount} paid ({adjustment.order_id})")
            return True
        if update.status in (OrderStatus.FAILED, OrderStatus.EXPIRED, OrderStatus.CANCELLED):
            adjustment.status = PeriodStatus.FAILED
            # An upgrade charge is asked once: unpaid, it is not collected.
            self.move_invoice(adjustment.order_id, InvoiceState.UNCOLLECTIBLE, at)
            self.note(at, "adjustment", f"{adjustment.reason}: {adjustment.order_id} {update.status.value.lower()}")
            return True
        return False

    def invoice_amount(self, discount: Money | None = None) -> Money:
        """The next invoice: the plan's price less its ``discount`` and any carried credit (never below zero)."""
        price = self.plan.amount - (discount or Money.zero(self.plan.amount.currency))
        return max(price - self.credit_balance, Money.zero(self.plan.amount.currency))

    def consume_credit(self, amount: Money, discount: Money | None = None) -> None:
        """The credit used by an invoice of ``amount`` (the plan price less the discount and the credit)."""
        used = self.plan.amount - (discount or Money.zero(self.plan.amount.currency)) - amount
        self.credit_balance = self.credit_balance - used

    def period_discount(self, record: BillingPeriodRecord) -> Money:
        """Engine modes: what the applied coupon takes off this period at the plan's price (zero if none)."""
        return period_discount(self.coupon, self.plan.plan_id, self.plan.amount, record.number)

    # -- invoices -------------------------------------------------------------------------------------
    #
    # One invoice per billed period (``{id}-p{n}``; a later plan generation ``{id}-g{g}-p{n}``) and per
    # upgrade charge (the adjustment's order id), numbered before the charge is asked. Its state follows
    # the money: open while the engine collects it, paid when the period (or adjustment) is paid, void
    # when the subscription ends before it was charged, uncollectible when dunning gives up.

    def period_invoice_id(self, record: BillingPeriodRecord) -> str:
        base = self.subscription_id if record.generation == 1 else f"{self.subscription_id}-g{record.generation}"
        return f"{base}-p{record.number}"

    def invoice(self, invoice_id: str) -> Invoice | None:
        return next((i for i in self.invoices if i.invoice_id == invoice_id), None)

    def find_invoice(self, key: str) -> Invoice | None:
        """An invoice by its number or its invoice id."""
        return next((i for i in self.invoices if key in (i.number, i.invoice_id)), None)

    def period_invoice_lines(
        self, record: BillingPeriodRecord, amount: Money, discount: Money | None = None
    ) -> list[InvoiceLine]:
        """A period at the plan's price, less its coupon ``discount`` and the carried credit it uses
        (``amount`` is what is collected)."""
        price = record.amount if self.mode is BillingMode.PROVIDER_MANAGED and record.amount else self.plan.amount
        lines = [
            InvoiceLine(
                kind=LineKind.PERIOD,
                description=f"{self.plan.description}, period {record.number}",
                period_start=record.start.isoformat() if record.start else None,
                period_end=record.end.isoformat() if record.end else None,
                amount=price,
            )
        ]
        if discount is not None and discount.is_positive() and self.coupon is not None:
            lines.append(
                InvoiceLine(
                    kind=LineKind.DISCOUNT,
                    description=f"Coupon {self.coupon.coupon.code} ({self.coupon.coupon.describe()})",
                    amount=-discount,
                )
            )
            price = price - discount
        used = price - amount
        if used.is_positive():
            lines.append(InvoiceLine(kind=LineKind.CREDIT_APPLIED, description="Credit applied", amount=-used))
        return lines

    @staticmethod
    def proration_lines(
        old: SubscriptionPlan,
        new: SubscriptionPlan,
        proration: Proration,
        *,
        credit_less: str | None = None,
        charge_less: str | None = None,
    ) -> list[InvoiceLine]:
        """A plan change now: the unused part of the old plan credited, the rest of the period charged
        (``credit_less``, ``charge_less``: the coupon code each price was discounted by, if any)."""
        fraction = proration.fraction_remaining
        exact = {"numerator": fraction.numerator, "denominator": fraction.denominator}
        return [
            InvoiceLine(
                kind=LineKind.PRORATION_CREDIT,
                description=f"Unused time on {old.description}"
                + (f", less coupon {credit_less}" if credit_less else ""),
                amount=proration.credit,
                **exact,
            ),
            InvoiceLine(
                kind=LineKind.PRORATION_CHARGE,
                description=f"Remaining time on {new.description}"
                + (f", less coupon {charge_less}" if charge_less else ""),
                amount=proration.charge,
                **exact,
            ),
        ]

    def change_discounts(self, new_plan: SubscriptionPlan, at: datetime) -> tuple[Money, Money]:
        """Engine modes: the coupon's discount on the period at ``at``, at the current plan's price and at
        ``new_plan``'s (zero where it does not apply)."""
        window = self.calendar.period_at(at) if self.calendar is not None else None
        number = window.number if window is not None else 0
        return (
            period_discount(self.coupon, self.plan.plan_id, self.plan.amount, number),
            period_discount(self.coupon, new_plan.plan_id, new_plan.amount, number),
        )

    def change_coupon_notes(self, new_plan: SubscriptionPlan, at: datetime) -> dict[str, str | None]:
        """``proration_lines``' ``credit_less`` and ``charge_less`` for a change at ``at``."""
        old_off, new_off = self.change_discounts(new_plan, at)
        code = self.coupon.coupon.code if self.coupon is not None else None
        return {
            "credit_less": code if old_off.is_positive() else None,
            "charge_less": code if new_off.is_positive() else None,
        }

    def add_invoice(
        self,
        invoice_id: str,
        allocated: InvoiceNumber,
        lines: list[InvoiceLine],
        *,
        at: datetime,
        order_id: str | None = None,
        record: BillingPeriodRecord | None = None,
        charged_by_provider: bool = False,
    ) -> Invoice:
        """Store a new invoice (draft) under its allocated number; the same id twice returns the first."""
        known = self.invoice(invoice_id)
        if known is not None:
            return known
        invoice = Invoice.build(
            number=allocated.number,
            merchant=allocated.merchant,
            customer_id=self.customer_id,
            currency=self.plan.amount.currency,
            lines=lines,
            invoice_id=invoice_id,
            subscription_id=self.subscription_id,
            order_id=order_id,
            period=record.number if record is not None else None,
            generation=record.generation if record is not None else self.generation,
            charged_by_provider=charged_by_provider,
            created_at=at,
        )
        self.invoices.append(invoice)
        self.note(
            at, "invoice", f"{invoice.number} for {Money(amount_minor=invoice.amount_due, currency=invoice.currency)}"
        )
        return invoice

    def move_invoice(self, invoice_id: str, to: InvoiceState, at: datetime, *, order_id: str | None = None) -> None:
        """Move an invoice forward; a move its state machine refuses is recorded, never raised (the money
        already happened: a void invoice that got paid is an operator's to credit)."""
        for index, invoice in enumerate(self.invoices):
            if invoice.invoice_id != invoice_id:
                continue
            if order_id is not None and invoice.order_id != order_id:
                invoice = invoice.model_copy(update={"order_id": order_id})
                self.invoices[index] = invoice
            if invoice.state is to:
                return
            try:
                moved = transition(invoice, to)
            except InvalidStateError as exc:
                self.note(at, "invoice", f"{invoice.number}: {exc.reason}")
                return
            if to is not InvoiceState.OPEN:
                moved = moved.model_copy(update={"settled_at": at})
            self.invoices[index] = moved
            if to is not InvoiceState.OPEN:
                self.note(at, "invoice", f"{invoice.number} {to.value}")
            return

    def void_unpaid_invoices(self, at: datetime) -> None:
        """Cancelled: an invoice whose period was never charged (no order in flight) is void."""
        for record in self.periods:
            invoice = self.invoice(self.period_invoice_id(record))
            if invoice is not None and invoice.state is InvoiceState.OPEN and record.status is PeriodStatus.FAILED:
                self.move_invoice(invoice.invoice_id or "", InvoiceState.VOID, at)

    def provider_invoices_due(self) -> list[BillingPeriodRecord]:
        """Provider-managed: recorded periods (paid or failed) that have no invoice yet."""
        if self.invoices_from is None:
            return []
        return [
            r
            for r in self.periods
            if (r.generation, r.number) >= self.invoices_from
            and r.status is not PeriodStatus.PENDING
            and self.invoice(self.period_invoice_id(r)) is None
        ]

    def settle_provider_invoices(self, at: datetime) -> None:
        """Provider-managed: an invoice follows its period; the subscription ending unpaid gives it up."""
        for record in self.periods:
            invoice = self.invoice(self.period_invoice_id(record))
            if invoice is None or not invoice.charged_by_provider:
                continue
            if record.status is PeriodStatus.PAID:
                self.move_invoice(invoice.invoice_id or "", InvoiceState.PAID, at)
            elif self.is_final and invoice.state is InvoiceState.OPEN:
                self.move_invoice(invoice.invoice_id or "", InvoiceState.UNCOLLECTIBLE, at)

    # -- merchant commands: validation ------------------------------------------------------------

    def check_cancel(self, request: CancelSubscriptionRequest) -> None:
        if self.is_final:
            raise InvalidStateError(f"the subscription is already {self.status}")
        if request.at_period_end and self.status is SubscriptionStatus.INCOMPLETE and self.mode not in ENGINE_MODES:
            raise InvalidStateError("an INCOMPLETE subscription has no period to end; cancel it now")
        if request.at_period_end and self.cancel_at_period_end:
            raise InvalidStateError("the subscription is already set to cancel at period end")

    def check_resume(self) -> None:
        if self.is_final or not (self.cancel_at_period_end or self.status is SubscriptionStatus.PAUSED):
            raise InvalidStateError("only a PAUSED subscription, or one set to cancel at period end, can be resumed")

    def check_pause(self) -> None:
        if self.mode not in ENGINE_MODES:
            raise InvalidStateError(f"{self.provider} bills this subscription itself and offers no pause")
        if self.status not in (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING, SubscriptionStatus.PAST_DUE):
            raise InvalidStateError(f"only a live subscription can be paused; it is {self.status}")

    def check_change(self, new_plan: SubscriptionPlan) -> None:
        if self.status not in (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING):
            raise InvalidStateError(f"only an ACTIVE subscription can change plan; it is {self.status}")
        if new_plan.amount.currency != self.plan.amount.currency:
            raise InvalidStateError(f"the new plan must be in {self.plan.amount.currency}", field="plan.amount")
        if new_plan == self.plan:
            raise InvalidStateError("the new plan is the current plan", field="plan")

    def preview_change(self, new_plan: SubscriptionPlan, at: datetime) -> Proration:
        """The proration of a change at ``at``: the same function the real change uses."""
        self.check_change(new_plan)
        window = self.calendar.period_at(at) if self.calendar is not None else None
        if window is None or window.number < 1:
            raise InvalidStateError("the subscription has no current period to prorate")
        instant = at
        if self.mode is BillingMode.PROVIDER_MANAGED:
            return restart_cycle(self.plan.amount, new_plan.amount, window, instant)
        # A period the coupon covers was billed at the discounted price: the change credits the unused part of
        # what was billed and charges the rest of the period at what the coupon leaves of the new price.
        old_off, new_off = self.change_discounts(new_plan, instant)
        return prorate(self.plan.amount - old_off, new_plan.amount - new_off, window, instant)

    def check_change_request(self, request: ChangePlanRequest, at: datetime) -> Proration | None:
        """Validate a change; returns the proration of an immediate change."""
        self.check_change(request.plan)
        if self.pending_change is not None:
            raise InvalidStateError(f"a change to plan {self.pending_change.plan.plan_id} is already in progress")
        if self.cancel_at_period_end:
            raise InvalidStateError("the subscription cancels at period end; resume it before changing plan")
        if request.at_period_end:
            return None
        proration = self.preview_change(request.plan, at)
        if self.mode is BillingMode.PROVIDER_MANAGED and proration.net.is_negative():
            raise InvalidStateError(
                f"changing now would leave a credit of {proration.credit_carried} the provider cannot carry; "
                "change at period end instead",
                field="at_period_end",
            )
        return proration

    def complete_change(self, anchor: datetime, at: datetime, source: str) -> None:
        """The provider activated the new generation: it becomes the subscription."""
        change = self.pending_change
        assert change is not None
        previous = self.plan.plan_id
        self.pending_change = None
        self.generation = change.generation
        self.request_key = change.request_key
        self.provider_reference = change.provider_reference or self.provider_reference
        self.plan = change.plan
        self.calendar = BillingCalendar(
            anchor=anchor,
            interval=self.plan.interval,
            interval_count=self.plan.interval_count,
            periods=self.plan.periods,
        )
        record = self.period_record(1)
        if record.status is not PeriodStatus.PAID:
            record.status = PeriodStatus.PAID
            record.paid_at = at
            record.attempts += 1
            if change.proration is not None:
                record.amount = change.proration.amount_due
        self.current_period = 1
        if self.status is SubscriptionStatus.PAST_DUE:
            self.status = SubscriptionStatus.ACTIVE
        self.note(at, source, f"plan changed from {previous} to {self.plan.plan_id}")
        self.refresh_next_billing()


class SubscriptionInput(BaseModel):
    """The workflow's input: the start request, plus the carried state when it continues as new."""

    request: StartSubscription
    state: Subscription | None = None
    seen_events: list[str] = Field(default_factory=list)
    #: Merchant events: the sequence, what was announced and what waits to be delivered.
    events: EventLog | None = None
    #: Attached to this test clock (``billing.clocks``), with the clock's time when the run starts.
    test_clock: str | None = None
    clock_time: datetime | None = None
    #: Invoice numbers stored with their documents and not yet confirmed to their sequence: (sequence workflow
    #: id, document id) pairs the next run confirms.
    unconfirmed_numbers: list[tuple[str, str]] = Field(default_factory=list)
