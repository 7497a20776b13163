"""The state one SubscriptionWorkflow run holds, and what every part of it shares.

:class:`SubscriptionRun` carries the subscription, its merchant event log and the run's bookkeeping
(events seen, inquiries made), and does what both billing modes need: wait for a statement with a
deadline, inquire at the provider, publish search attributes, current details and merchant events. The
billing modes build on it (``workflows.subscription_engine``, ``workflows.subscription_mirror``), and
:class:`workflows.subscription_logic.SubscriptionLogic` joins them. Workflow code: no I/O, no clock or
randomness but ``clock_now()``, no state at module level.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ActivityError

from activities.subscriptions import (
    SubscriptionActivities,
    SubscriptionCall,
)
from billing import events, idempotency, metrics
from billing import search_attributes as sa
from billing.calendar import BillingCalendar
from billing.errors import InconclusiveCallError
from billing.gateway import (
    SubscriptionOutcome,
    SubscriptionRef,
)
from billing.invoices import Invoice, InvoiceState
from billing.orders import provider_call_limit
from billing.subscriptions import (
    ENGINE_MODES,
    BillingPeriodRecord,
    PeriodStatus,
    Subscription,
    SubscriptionInput,
    SubscriptionStatus,
)
from workflows.common import (
    INQUIRY_RETRY,
    A,
    ProviderActivity,
    R,
    S,
    call_provider,
    clock_now,
    describe,
    started_with,
    wait_or_time_out,
)
from workflows.events import EventSender

#: Event keys remembered for deduplication across continue-as-new (providers redeliver recent ones).
SEEN_EVENTS_KEPT = 500
#: Recent periods whose outcome is announced to the merchant (older ones were announced long ago).
PERIODS_ANNOUNCED = 3
#: Recent invoices whose changes are announced to the merchant (older ones were announced long ago).
INVOICES_ANNOUNCED = 5


def invoice_event(state: InvoiceState) -> str | None:
    """The merchant event that announces an invoice reaching ``state`` (None: not a final state)."""
    if state is InvoiceState.PAID:
        return "invoice.paid"
    if state is InvoiceState.VOID:
        return "invoice.voided"
    if state is InvoiceState.UNCOLLECTIBLE:
        return "invoice.uncollectible"
    return None


class SubscriptionRun:
    """The state of one subscription run and what both billing modes share."""

    def __init__(self, start: SubscriptionInput) -> None:
        self.request = start.request
        self.policy = start.request.policy
        self.fingerprint = start.request.fingerprint()
        #: A test clock's run (billing.clocks): the clock's time, what the run waits for and how far it got.
        self.test_clock = start.test_clock
        self.simulated_now: datetime | None = (start.clock_time or clock_now()) if start.test_clock else None
        self.clock_due: datetime | None = None
        #: The invoice waiting for the customer to pay, and when its payment window ends in clock time.
        self.clock_payment: tuple[BillingPeriodRecord, datetime] | None = None
        self.clock_handover = False
        self.clock_finished = False
        now = self.simulated_now or clock_now()
        self.sub = start.state or Subscription(
            subscription_id=self.request.subscription_id,
            provider=self.request.provider,
            mode=self.request.mode,
            plan=self.request.plan,
            customer_id=self.request.customer.customer_id,
            request_key=idempotency.subscription_key(self.request.subscription_id),
            credit_balance=self.request.plan.amount.model_copy(update={"amount_minor": 0}),
            created_at=now,
            activation_deadline=now + self.policy.authorization_window,
        )
        self.created = start.state is not None
        if start.state is None:
            self.sub.invoices_from = (1, 1)
        self._invoices_in_memo = started_with(events.INVOICES_FEATURE)
        self._invoicing: bool | None = None
        #: Whether numbers are taken in the workflow task (``workflows.subscription_invoicing``), and the numbers
        #: stored and not yet confirmed: (sequence workflow id, document id, history length when stored).
        self._in_task: bool | None = None
        self._unconfirmed: list[tuple[str, str, int]] = [(seq, doc, 0) for seq, doc in start.unconfirmed_numbers]
        self._confirming = False
        #: Voided invoices whose balance part this run gave back (``workflows.subscription_balance``).
        self._balance_returned: set[str] = set()
        #: Runs started since the status set at start counts as published (older ones set it again).
        self._attributes_at_start = started_with(events.ATTRIBUTES_AT_START_FEATURE)
        if start.state is None and self.sub.mode in ENGINE_MODES:
            self._start_engine_calendar(now)
        self.seen: list[str] = list(start.seen_events)
        self.check_requested = False
        self.inquiries = 0
        self._published: SubscriptionStatus | None = None
        log = start.events or events.EventLog(kind="subscription", object_id=self.request.subscription_id)
        if start.state is not None and start.events is None:
            log.start("created", "yes")  # carried over from a run that predates merchant events
        log.start("status", self.sub.status.value)
        log.start("plan", self.sub.plan.plan_id)
        self.events = EventSender(log, lambda kind, detail: self.sub.note(clock_now(), kind, detail))

    def _start_engine_calendar(self, now: datetime) -> None:
        """Engine modes own the calendar: from the billing anchor, or after a trial, or from now."""
        request = self.request
        if request.trial_days:
            self.sub.calendar = BillingCalendar(
                anchor=now,
                interval=request.plan.interval,
                interval_count=request.plan.interval_count,
                trial_end=now + timedelta(days=request.trial_days),
                periods=request.plan.periods,
            )
            self.sub.status = SubscriptionStatus.TRIALING
        else:
            self.sub.calendar = BillingCalendar(
                anchor=request.billing_anchor or now,
                interval=request.plan.interval,
                interval_count=request.plan.interval_count,
                periods=request.plan.periods,
            )
        self.sub.refresh_next_billing()
        self.sub.next_billing_at = self.sub.calendar.period_start(1)

    def _should_continue_as_new(self) -> bool:
        info = workflow.info()
        cap = self.policy.max_history_events
        return info.is_continue_as_new_suggested() or (cap is not None and info.get_current_history_length() >= cap)

    async def _statement_within(self, wait: timedelta, summary: str) -> bool:
        """Wait for a change of state (or a hint). True when something changed, False on timeout."""
        before = self._snapshot()
        if not await self._wait_until(
            lambda: self._snapshot() != before or self.check_requested or self._should_continue_as_new(),
            max(wait, timedelta(seconds=1)),
            summary,
        ):
            return False
        if self.check_requested:
            self.check_requested = False
            await self._inquire()
        self.inquiries = 0
        return True

    async def _wait_until(self, condition: Callable[[], bool], wait: timedelta, summary: str) -> bool:
        """``condition`` within ``wait``: True when it held, False when the time ran out. On a timer, or for a
        run attached to a test clock, when the clock passes the due time (no timer: ``clock_sync`` moves it)."""
        if self.simulated_now is None:
            return await wait_or_time_out(condition, wait, summary)
        due = self.simulated_now + wait
        self.clock_due = due
        try:
            await workflow.wait_condition(lambda: condition() or self._clock_at(due))
        finally:
            self.clock_due = None
        return condition()

    def _clock_at(self, due: datetime) -> bool:
        return self.simulated_now is not None and self.simulated_now >= due

    def clock_idle(self) -> bool:
        """An attached run has caught up with its clock: it waits for a time still ahead (no work in flight
        reaches this point: invoice orders, number allocations and provider calls are awaited before the
        next timed wait), or it hands over to its next run, or it ends."""
        due = self.clock_due
        return (
            self.clock_handover
            or self.clock_finished
            or (due is not None and not self._clock_at(due))
            or self.awaiting_customer() is not None
        ) and not self.check_requested

    def awaiting_customer(self) -> tuple[str, datetime] | None:
        """The invoice order waiting for the customer (its checkout or QR is out) and the end of its payment
        window in clock time: nothing happens until the customer pays or the clock closes the window."""
        if self.clock_payment is None:
            return None
        record, due = self.clock_payment
        if record.status is not PeriodStatus.PENDING or record.checkout_url is None or record.order_id is None:
            return None
        return record.order_id, due

    def _snapshot(self) -> tuple[object, ...]:
        sub = self.sub
        change = sub.pending_change
        return (
            sub.status,
            sub.current_period,
            sub.cancel_at_period_end,
            sub.request_key,
            len(sub.periods),
            change.scheduled if change else None,
        )

    async def _inquire(self) -> None:
        self.inquiries += 1
        try:
            outcome = await self._call(
                SubscriptionActivities.inquire,
                SubscriptionCall(provider=self.request.provider, subscription=self._ref()),
                retry=INQUIRY_RETRY,
                summary=f"inquire subscription #{self.inquiries}",
            )
        except (InconclusiveCallError, ActivityError) as exc:
            self.sub.note(clock_now(), "inquiry", f"no answer: {describe(exc)}")
            return
        before = self._snapshot()
        self._apply_status(outcome, "inquiry")
        if self._snapshot() == before:
            self.sub.note(clock_now(), "inquiry", f"{outcome.provider_status or outcome.status.value}: no news")

    def check_now(self) -> None:
        self.check_requested = True

    def status(self) -> Subscription:
        return self.sub

    def invoices(self) -> list[Invoice]:
        return self.sub.invoices

    def _ref(self) -> SubscriptionRef:
        """The subscription to ask the provider about: the new generation while a change is in flight."""
        change = self.sub.pending_change
        if change is not None and not change.scheduled:
            return SubscriptionRef(idempotency_key=change.request_key, provider_reference=change.provider_reference)
        return SubscriptionRef(idempotency_key=self.sub.request_key, provider_reference=self.sub.provider_reference)

    def _duplicate(self, event_key: str) -> bool:
        if event_key in self.seen:
            self.sub.note(clock_now(), "notification", "duplicate ignored")
            return True
        self.seen.append(event_key)
        return False

    def _apply_status(self, outcome: SubscriptionOutcome, source: str) -> None:
        self.sub.apply_provider_status(outcome, source=source, at=clock_now())
        self._grant()
        self._publish()

    def _grant(self) -> None:
        for record in self.sub.grant_due():
            label = f"period {record.number}" + (f" of plan {record.generation}" if record.generation > 1 else "")
            self.sub.note(clock_now(), "benefits_granted", label)

    async def _call(self, activity: ProviderActivity[S, A, R], call: A, *, retry: RetryPolicy, summary: str) -> R:
        timeout = self.policy.provider_call_timeout or provider_call_limit(self.request.provider)
        return await call_provider(activity, call, timeout=timeout, retry=retry, summary=summary)

    def _publish(self) -> None:
        """Search attributes and current details for the Temporal UI. No personal data."""
        sub = self.sub
        updates: list[SearchAttributeUpdate[Any]] = []
        if self._published is None:
            started = workflow.info().typed_search_attributes.get(sa.BILLING_STATUS)
            if started is None:
                # Started without them (a client from before): the set the client starts with, status last.
                attributes = sa.at_start(
                    status=sub.status.value,
                    provider=sub.provider,
                    customer_id=sub.customer_id,
                    amount=sub.plan.amount,
                )
                updates += sa.upserts(attributes, without=(sa.BILLING_STATUS.name,))
            elif self._attributes_at_start:
                # Set at start (or carried over by continue-as-new): only a change follows.
                self._published = SubscriptionStatus(started)
        if self._published is not sub.status:
            updates.append(sa.BILLING_STATUS.value_set(sub.status.value))
        current_next = workflow.info().typed_search_attributes.get(sa.NEXT_BILLING_AT)
        if sub.next_billing_at != current_next:
            updates.append(
                sa.NEXT_BILLING_AT.value_set(sub.next_billing_at)
                if sub.next_billing_at is not None
                else sa.NEXT_BILLING_AT.value_unset()
            )
        if updates:
            workflow.upsert_search_attributes(updates)
        self._published = sub.status
        lines = [f"**{sub.status.value}** · {sub.plan.amount} per {sub.plan.interval.value} · {sub.provider}"]
        if sub.current_period:
            lines.append(f"period {sub.current_period} paid")
        if sub.next_billing_at is not None:
            lines.append(f"next billing {sub.next_billing_at.isoformat()}")
        if sub.cancel_at_period_end:
            lines.append("cancels at period end")
        if self.simulated_now is not None:
            lines.append(f"simulated time: {self.simulated_now.isoformat()} (test clock {self.test_clock})")
        workflow.set_current_details("\n\n".join(lines))
        self._announce()

    def _announce(self) -> None:
        """Queue a merchant event for each change since the last one (see billing.events), and count it."""
        sub, log, now = self.sub, self.events.log, clock_now()

        def say(topic: str, value: str, event_type: str, data: Callable[[], dict[str, Any]]) -> None:
            if log.announce(topic, value, event_type, data, now):
                metrics.subscription_changed(sub.provider, sub.mode.value, event_type.removeprefix("subscription."))

        data = functools.partial(events.subscription_data, sub)
        say("created", "yes", "subscription.created", data)
        say("status", sub.status.value, f"subscription.{sub.status.value.lower()}", data)
        say("plan", sub.plan.plan_id, "subscription.plan_changed", data)
        for record in sub.periods[-PERIODS_ANNOUNCED:]:
            period = functools.partial(events.period_data, sub, record)
            if record.status is PeriodStatus.PENDING:
                if record.order_id is not None and record.checkout_url is not None:
                    # Engine-invoiced: the merchant passes the payment link or QR on to the customer.
                    say(f"invoice:{record.order_id}", "issued", "subscription.invoice_issued", period)
                continue
            paid = record.status is PeriodStatus.PAID
            say(
                f"period:{record.generation}:{record.number}",
                "PAID" if paid else f"FAILED:{record.order_id}",
                "subscription.period_paid" if paid else "subscription.period_payment_failed",
                period,
            )
        for invoice in sub.invoices[-INVOICES_ANNOUNCED:]:
            if invoice.state is InvoiceState.DRAFT:
                continue  # numbered, not issued yet: announced once it is open (or settled at once)
            topic = f"invoice-doc:{invoice.invoice_id}"
            about = functools.partial(events.invoice_data, sub, invoice)
            log.announce(topic, "created", "invoice.created", about, now)
            final = invoice_event(invoice.state)
            if final is not None:
                log.announce(f"{topic}:state", invoice.state.value, final, about, now)
        self.events.kick()
