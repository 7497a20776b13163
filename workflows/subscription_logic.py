"""What SubscriptionWorkflow does: one subscription for its whole life, as plain deterministic code.

Provider-managed mode (native subscriptions): the provider charges every period; the workflow
creates the subscription, waits for the customer's authorization, then mirrors each period from the
provider's notifications, with a deadline per period after which it inquires. Engine modes own the
calendar and bill each period through an invoice order. Merchant commands (cancel now or at period end,
pause, resume, plan change, management link) are Updates validated before anything is recorded. The
state travels across continue-as-new, so a subscription can live for years.

:class:`workflows.subscription.SubscriptionWorkflow` is the Temporal entry point: its handlers only
delegate here. A worker loads this module once and every run shares it (``worker.workflow_runner``); it
keeps to workflow rules, which the tests' checking sandbox enforces: no I/O, no clock or randomness but
``clock_now()``, no state at module level (everything lives on the :class:`SubscriptionLogic`
instance a run owns).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate, WorkflowIDReusePolicy
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

from activities.invoices import AllocateNumber, ConfirmNumber, InvoiceActivities
from activities.subscriptions import (
    CancelSubscriptionCall,
    ChangeSubscriptionCall,
    CreateSubscriptionCall,
    ManageSubscriptionCall,
    SubscriptionActivities,
    SubscriptionCall,
)
from billing import events, idempotency, metrics
from billing import search_attributes as sa
from billing.calendar import BillingCalendar
from billing.errors import ConflictError, InconclusiveCallError, InputError, InvalidStateError
from billing.gateway import (
    CancelledBy,
    CancelSubscription,
    ChangeOutcome,
    ChangeStatus,
    ChangeSubscription,
    CreateSubscription,
    ManagementLink,
    ManageSubscription,
    PaymentEvent,
    SubscriptionChangeEvent,
    SubscriptionEvent,
    SubscriptionOutcome,
    SubscriptionPlan,
    SubscriptionRef,
)
from billing.invoices import INVOICE_SERIES, Invoice, InvoiceLine, InvoiceNumber, InvoiceState
from billing.money import Money
from billing.orders import CreateOrder, OrderPolicy, OrderUpdate, order_workflow_id, provider_call_limit
from billing.proration import Proration
from billing.subscriptions import (
    ENGINE_MODES,
    Adjustment,
    BillingMode,
    BillingPeriodRecord,
    CancelSubscriptionRequest,
    ChangePlanRequest,
    DunningOutcome,
    ManagementLinkRequest,
    PauseSubscriptionRequest,
    PendingChange,
    PeriodStatus,
    ResumeSubscriptionRequest,
    SubmitSubscription,
    Subscription,
    SubscriptionInput,
    SubscriptionStatus,
)
from providers.registry import provider_spec
from workflows.common import (
    INQUIRY_RETRY,
    MONEY_RETRY,
    A,
    ProviderActivity,
    R,
    S,
    call_provider,
    clock_now,
    describe,
    rejected,
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


#: Inquiries after the authorization window before giving the subscription up as never activated.
ACTIVATION_INQUIRY_LIMIT = 6
#: Runs started without the invoices feature in their memo (histories from before invoices) ask this patch
#: before their first invoice, so those histories replay unchanged.
INVOICES_PATCH = "subscription-invoices"
#: Number allocation only asks the merchant's sequence workflow: retried until it answers.
ALLOCATE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
CONFIRM_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1), maximum_attempts=5
)


class SubscriptionLogic:
    """The state of one subscription run and everything its workflow handlers do with it."""

    def __init__(self, start: SubscriptionInput) -> None:
        self.request = start.request
        self.policy = start.request.policy
        self.fingerprint = start.request.fingerprint()
        now = clock_now()
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
        self._invoices_in_memo = events.started_with(
            workflow.memo_value(events.FEATURES_MEMO, None, type_hint=list[str]), events.INVOICES_FEATURE
        )
        self._invoicing: bool | None = None
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

    # -- main line --------------------------------------------------------------------------------

    async def run(self) -> Subscription:
        engine = self.sub.mode in ENGINE_MODES
        if not self.created:
            self.sub.note(clock_now(), "created", self.request.summary)
            if engine:
                self.created = True
            else:
                await self._create_at_provider()
        self._publish()
        while not self.sub.is_final:
            if engine:
                await self._engine_cycle()
            elif self.sub.status is SubscriptionStatus.INCOMPLETE:
                await self._await_activation()
            else:
                await self._mirror_period()
            if not engine:
                await self._record_provider_invoices()
            if self._should_continue_as_new():
                # Handlers first: an update in flight must finish in this run, and its effects travel.
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(
                    SubscriptionInput(
                        request=self.request,
                        state=self.sub,
                        seen_events=self.seen[-SEEN_EVENTS_KEPT:],
                        events=self.events.log,
                    ),
                    memo=events.features_memo(),
                )
        if not engine:
            await self._record_provider_invoices()
        await self._watch_after_end()
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self.events.flushed()
        return self.sub

    def _should_continue_as_new(self) -> bool:
        info = workflow.info()
        cap = self.policy.max_history_events
        return info.is_continue_as_new_suggested() or (cap is not None and info.get_current_history_length() >= cap)

    async def _watch_after_end(self) -> None:
        """Stay open a while after the end: late statements are recorded, commands answered."""
        closes_at = (self.sub.cancelled_at or clock_now()) + self.policy.final_watch
        while clock_now() < closes_at:
            try:
                await workflow.wait_condition(
                    lambda: self.check_requested, timeout=closes_at - clock_now(), timeout_summary="final watch"
                )
            except TimeoutError:
                return
            self.check_requested = False
            await self._inquire()

    async def _create_at_provider(self) -> None:
        call = CreateSubscriptionCall(
            provider=self.request.provider,
            subscription_id=self.request.subscription_id,
            request=CreateSubscription(
                idempotency_key=self.sub.request_key,
                merchant_subscription_id=self.request.subscription_id,
                plan=self.request.plan,
                customer=self.request.customer,
                success_url=self.request.success_url,
                failure_url=self.request.failure_url,
                cancel_url=self.request.cancel_url,
                expires_at=self.sub.activation_deadline,
                requested_at=self.sub.created_at,
            ),
        )
        try:
            outcome = await self._call(
                SubscriptionActivities.create, call, retry=MONEY_RETRY, summary="create subscription"
            )
            self._apply_status(outcome, "provider.create")
        except InconclusiveCallError as exc:
            # Never a second subscription: the same request id is inquired until the provider answers.
            self.sub.note(clock_now(), "outcome_unknown", str(exc))
        except ActivityError as exc:
            self.sub.move(SubscriptionStatus.CANCELLED, clock_now(), "provider.create", describe(exc))
        finally:
            self.created = True

    # -- engine modes ---------------------------------------------------------------------------------

    async def _engine_cycle(self) -> None:
        """One step of engine billing: wait for the next period, or bill it through an invoice order."""
        sub = self.sub
        assert sub.calendar is not None
        now = clock_now()
        if sub.status in (SubscriptionStatus.PAUSED, SubscriptionStatus.UNPAID):
            # Nothing is billed until the merchant resumes (or cancels).
            await self._statement_within(timedelta(days=3650), sub.status.value.lower())
            return
        window = sub.current_period_window()
        if sub.cancel_at_period_end:
            end = window.end if window is not None else now
            if now >= end:
                sub.cancelled_by = CancelledBy.MERCHANT
                sub.move(SubscriptionStatus.CANCELLED, now, "cancelled", "at period end")
                sub.refresh_next_billing()
                self._publish()
                return
            await self._statement_within(end - now, "cancel at period end")
            return
        number = sub.current_period + 1
        if sub.calendar.periods is not None and number > sub.calendar.periods:
            sub.move(SubscriptionStatus.EXPIRED, now, "expired", f"all {sub.calendar.periods} periods billed")
            sub.refresh_next_billing()
            self._publish()
            return
        start = sub.calendar.period_start(number)
        if now < start:
            await self._statement_within(start - now, f"period {number} starts")
            return
        change = sub.pending_change
        if change is not None and change.scheduled:
            # Engine billing prices each period itself: a change at period end applies to the next invoice.
            sub.pending_change = None
            sub.note(now, "plan_changed", f"from {sub.plan.plan_id} to {change.plan.plan_id}")
            sub.plan = change.plan
        await self._bill_period(number)

    async def _bill_period(self, number: int) -> None:
        """Invoice a period through a child order; retry on the dunning schedule when it fails."""
        sub = self.sub
        record = sub.period_record(number)
        while record.status is not PeriodStatus.PAID and not sub.is_final:
            if record.order_id is None or record.status is PeriodStatus.FAILED:
                attempt = record.attempts
                if record.status is PeriodStatus.FAILED:
                    if record.hard_failure:
                        # A hard decline (unknown wallet, no route...) will not succeed by retrying.
                        self._dunning_exhausted(number)
                        return
                    if attempt > len(self.policy.dunning_schedule):
                        self._dunning_exhausted(number)
                        return
                    wait = self.policy.dunning_schedule[attempt - 1]
                    if await self._statement_within(wait, f"dunning: retry period {number} #{attempt}"):
                        if (
                            sub.status in (SubscriptionStatus.PAUSED, SubscriptionStatus.CANCELLED)
                            or sub.cancel_at_period_end
                        ):
                            return
                await self._issue_invoice(record, attempt)
            await self._await_invoice(record)
            if sub.status is SubscriptionStatus.PAUSED:
                return
            if record.status is PeriodStatus.FAILED:
                record.attempts += 1
        self._grant()
        self._publish()

    async def _await_invoice(self, record: BillingPeriodRecord) -> None:
        """The invoice order ends by itself (its payment window is a deadline); it reports here."""
        before = record.status
        await workflow.wait_condition(
            lambda: record.status is not before or self.sub.is_final or self.sub.status is SubscriptionStatus.PAUSED,
            timeout_summary=f"await invoice {record.order_id}",
        )

    async def _issue_invoice(self, record: BillingPeriodRecord, attempt: int) -> None:
        sub = self.sub
        order_id = sub.period_order_id(record.number, attempt)
        invoice_id = sub.period_invoice_id(record)
        invoice = sub.invoice(invoice_id)
        retry = invoice is not None and invoice.state is not InvoiceState.DRAFT
        if invoice is not None and retry:
            # A dunning retry collects what the invoice says; its credit was used by the first attempt.
            amount = Money(amount_minor=invoice.amount_due, currency=invoice.currency)
        else:
            amount = sub.invoice_amount()
        if invoice is None and self._invoices_on():
            # Numbered before the charge is asked: the number is durable in this history, whatever happens.
            invoice = await self._new_invoice(
                invoice_id, sub.period_invoice_lines(record, amount), order_id=order_id, record=record
            )
            if sub.is_final:
                # Cancelled while the number was allocated: the period is never charged.
                sub.move_invoice(invoice_id, InvoiceState.VOID, clock_now())
                self._publish()
                return
        record.order_id = order_id
        record.checkout_url = None
        record.amount = amount
        if not amount.is_positive():
            # A carried credit (from a downgrade) covers the whole period: nothing to collect.
            sub.consume_credit(amount)
            record.status = PeriodStatus.PAID
            record.paid_at = clock_now()
            sub.current_period = max(sub.current_period, record.number)
            sub.note(clock_now(), "invoice", f"period {record.number} covered by credit")
            if invoice is not None:
                sub.move_invoice(invoice_id, InvoiceState.OPEN, clock_now(), order_id=order_id)
                sub.move_invoice(invoice_id, InvoiceState.PAID, clock_now())
            sub.refresh_next_billing()
            return
        record.status = PeriodStatus.PENDING
        if not retry:
            sub.consume_credit(amount)
        if invoice is not None:
            sub.move_invoice(invoice_id, InvoiceState.OPEN, clock_now(), order_id=order_id)
        sub.note(clock_now(), "invoice", f"period {record.number}: order {order_id} for {amount}")
        await self._start_order(order_id, amount, f"{sub.plan.description}, period {record.number}")

    # -- invoices -----------------------------------------------------------------------------------

    def _invoices_on(self) -> bool:
        """Whether this run issues invoices: runs started with the feature do; older runs ask the patch
        where their first invoice would be, so a history from before invoices replays without one."""
        if self._invoicing is None:
            self._invoicing = self._invoices_in_memo or workflow.patched(INVOICES_PATCH)
            if self._invoicing and self.sub.invoices_from is None:
                # A subscription that predates invoices gets them from its next period.
                self.sub.invoices_from = (self.sub.generation, self.sub.current_period + 1)
        return self._invoicing

    async def _allocate(self, document_id: str, series: str = INVOICE_SERIES) -> InvoiceNumber:
        number: InvoiceNumber = await workflow.execute_activity_method(
            InvoiceActivities.allocate,
            AllocateNumber(document_id=document_id, series=series),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=ALLOCATE_RETRY,
            summary=f"number for {document_id}",
        )
        return number

    async def _confirm(self, allocated: InvoiceNumber, document_id: str) -> None:
        """The number is stored with its document (this history): the sequence may forget the id. An
        activity, not a signal from the workflow: the confirmation is a courtesy to the sequence's memory,
        and a failed one only keeps the id there longer."""
        try:
            await workflow.execute_activity_method(
                InvoiceActivities.confirm,
                ConfirmNumber(sequence_workflow_id=allocated.sequence_workflow_id, document_id=document_id),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=CONFIRM_RETRY,
                summary=f"confirm {allocated.number}",
            )
        except ActivityError as exc:
            self.sub.note(clock_now(), "invoice", f"{allocated.number} not confirmed: {describe(exc)}")

    async def _new_invoice(
        self,
        invoice_id: str,
        lines: list[InvoiceLine],
        *,
        order_id: str | None = None,
        record: BillingPeriodRecord | None = None,
        charged_by_provider: bool = False,
    ) -> Invoice:
        """A draft invoice under a number allocated for ``invoice_id`` (the same id, the same number)."""
        allocated = await self._allocate(invoice_id)
        known = self.sub.invoice(invoice_id)
        if known is not None:
            return known
        invoice = self.sub.add_invoice(
            invoice_id,
            allocated,
            lines,
            at=clock_now(),
            order_id=order_id,
            record=record,
            charged_by_provider=charged_by_provider,
        )
        await self._confirm(allocated, invoice_id)
        return invoice

    async def _record_provider_invoices(self) -> None:
        """Provider-managed: the periods the provider charged get the same invoices, marked as such."""
        sub = self.sub
        issued = False
        # Statements arrive while a number is allocated: look again until every recorded period has one.
        while (due := sub.provider_invoices_due()) and self._invoices_on():
            record = due[0]
            invoice_id = sub.period_invoice_id(record)
            lines = sub.period_invoice_lines(record, record.amount or sub.plan.amount)
            await self._new_invoice(invoice_id, lines, record=record, charged_by_provider=True)
            sub.move_invoice(invoice_id, InvoiceState.OPEN, clock_now())
            issued = True
        if sub.invoices:
            before = [i.state for i in sub.invoices]
            sub.settle_provider_invoices(clock_now())
            if issued or [i.state for i in sub.invoices] != before:
                self._publish()

    async def _change_engine_now(self, plan: SubscriptionPlan, proration: Proration) -> None:
        """Engine billing prices the change itself: charge the prorated net now, or carry the credit."""
        sub = self.sub
        now = clock_now()
        sub.pending_change = None
        old_plan = sub.plan
        previous, sub.plan = sub.plan.plan_id, plan
        sub.note(
            now,
            "plan_changed",
            f"from {previous} to {plan.plan_id}: credit {proration.credit}, "
            f"charge {proration.charge}, net {proration.net}",
        )
        if proration.net.is_positive():
            order_id = f"{sub.subscription_id}-c{len(sub.adjustments) + 1}"
            sub.adjustments.append(
                Adjustment(order_id=order_id, amount=proration.net, reason=f"upgrade to {plan.plan_id}")
            )
            if self._invoices_on():
                await self._new_invoice(order_id, sub.proration_lines(old_plan, plan, proration), order_id=order_id)
                sub.move_invoice(order_id, InvoiceState.OPEN, clock_now())
            await self._start_order(order_id, proration.net, f"Upgrade to {plan.description}")
        elif proration.net.is_negative():
            sub.credit_balance = sub.credit_balance + proration.credit_carried
            sub.note(now, "credit", f"{proration.credit_carried} carried to the next invoices")

    async def _start_order(self, order_id: str, amount: Money, description: str) -> None:
        request = CreateOrder(
            order_id=order_id,
            provider=self.request.provider,
            amount=amount,
            customer=self.request.customer,
            description=description,
            success_url=self.request.success_url,
            failure_url=self.request.failure_url,
            cancel_url=self.request.cancel_url,
            # Engine-charged: the provider's default charge (a wallet push); invoiced: the provider's page or QR.
            payment_method=(
                None
                if self.sub.mode is BillingMode.ENGINE_CHARGED
                else provider_spec(self.request.provider).invoice_payment_method
            ),
            policy=OrderPolicy.for_provider(self.request.provider, payment_window=self.policy.invoice_due),
            notify_workflow_id=workflow.info().workflow_id,
        )
        try:
            await workflow.start_child_workflow(
                "OrderWorkflow",
                request,
                id=order_workflow_id(order_id),
                task_queue=workflow.info().task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                parent_close_policy=ParentClosePolicy.ABANDON,
                static_summary=request.summary,
                memo=events.features_memo(),
            )
        except WorkflowAlreadyStartedError:
            # Started before (a previous run of this subscription): its updates still come here.
            self.sub.note(clock_now(), "invoice", f"order {order_id} already exists")
        self._publish()

    def _dunning_exhausted(self, number: int) -> None:
        sub = self.sub
        now = clock_now()
        sub.move_invoice(sub.period_invoice_id(sub.period_record(number)), InvoiceState.UNCOLLECTIBLE, now)
        if self.policy.dunning_exhausted is DunningOutcome.CANCEL:
            sub.cancelled_by = CancelledBy.MERCHANT
            sub.move(SubscriptionStatus.CANCELLED, now, "dunning", f"period {number} unpaid after every retry")
        else:
            sub.move(SubscriptionStatus.UNPAID, now, "dunning", f"period {number} unpaid after every retry")
        sub.refresh_next_billing()
        self._publish()

    def order_update(self, update: OrderUpdate) -> None:
        """An invoice order (engine modes) reports its checkout URL or how it ended."""
        self.sub.apply_order_update(update, at=clock_now())
        self._grant()
        self._publish()

    def pause(self, request: PauseSubscriptionRequest) -> Subscription:
        """Engine modes: stop billing until ``resume``; an invoice already issued stays payable."""
        self.sub.move(SubscriptionStatus.PAUSED, clock_now(), "paused", request.reason or "requested by the merchant")
        self.sub.refresh_next_billing()
        self._publish()
        return self.sub

    def validate_pause(self, request: PauseSubscriptionRequest) -> None:
        try:
            self.sub.check_pause()
        except InputError as exc:
            raise rejected(exc) from exc

    async def _await_activation(self) -> None:
        """INCOMPLETE: wait for the first payment; after the window, inquire until the provider closes it."""
        now = clock_now()
        deadline = self.sub.activation_deadline
        wait = self.policy.inquiry_wait(self.inquiries) if now >= deadline else deadline - now
        if await self._statement_within(wait, "await first payment"):
            return
        await self._inquire()
        if (
            self.sub.status is SubscriptionStatus.INCOMPLETE
            and clock_now() >= deadline
            and self.inquiries >= ACTIVATION_INQUIRY_LIMIT
        ):
            self.sub.move(
                SubscriptionStatus.CANCELLED,
                clock_now(),
                "activation",
                f"no first payment after {self.inquiries} inquiries past the authorization window",
            )
            self._publish()

    async def _mirror_period(self) -> None:
        """ACTIVE / PAST_DUE: wait for the next period's statement; inquire when it is overdue."""
        sub = self.sub
        now = clock_now()
        window = sub.current_period_window()
        change = sub.pending_change
        if change is not None and change.scheduled and window is not None:
            send_at = max(window.start, window.end - self.policy.change_lead)
            if now >= send_at:
                await self._send_change(change)
                return
            await self._statement_within(send_at - now, f"plan change to {change.plan.plan_id} at period end")
            return
        if sub.cancel_at_period_end and window is not None:
            if now >= window.end:
                await self._cancel_at_provider("at period end")
                return
            await self._statement_within(window.end - now, "cancel at period end")
            return
        if sub.next_billing_at is None:
            # Fixed term done: the provider's EXPIRED statement is due at the end of the last period.
            end = window.end if window is not None else now
            due = end + self.policy.renewal_grace
        else:
            due = sub.next_billing_at + self.policy.renewal_grace
        if now < due:
            if await self._statement_within(due - now, f"await period {sub.current_period + 1}"):
                return
        elif await self._statement_within(self.policy.inquiry_wait(self.inquiries), "renewal overdue"):
            return
        await self._inquire()
        if (
            sub.status is SubscriptionStatus.ACTIVE
            and sub.next_billing_at is not None
            and (clock_now() >= sub.next_billing_at + self.policy.renewal_grace)
        ):
            sub.move(
                SubscriptionStatus.PAST_DUE,
                clock_now(),
                "renewal_overdue",
                f"no statement for period {sub.current_period + 1}",
            )
            self._publish()

    async def _statement_within(self, wait: timedelta, summary: str) -> bool:
        """Wait for a change of state (or a hint). True when something changed, False on timeout."""
        before = self._snapshot()
        try:
            await workflow.wait_condition(
                lambda: self._snapshot() != before or self.check_requested or self._should_continue_as_new(),
                timeout=max(wait, timedelta(seconds=1)),
                timeout_summary=summary,
            )
        except TimeoutError:
            return False
        if self.check_requested:
            self.check_requested = False
            await self._inquire()
        self.inquiries = 0
        return True

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

    async def _cancel_at_provider(self, why: str) -> None:
        request = CancelSubscription(subscription=self._ref(), requested_at=clock_now())
        try:
            outcome = await self._call(
                SubscriptionActivities.cancel,
                CancelSubscriptionCall(provider=self.request.provider, request=request),
                retry=MONEY_RETRY,
                summary=f"cancel subscription ({why})",
            )
        except (InconclusiveCallError, ActivityError) as exc:
            self.sub.note(clock_now(), "provider.cancel", f"no answer: {describe(exc)}; inquiring")
            await self._inquire()
            return
        if outcome.failure is not None and not self.sub.is_final:
            self.sub.note(
                clock_now(),
                "provider.cancel",
                f"refused: {outcome.failure.code} {outcome.failure.message}",
            )
            await self._inquire()
            return
        self._apply_status(outcome, "provider.cancel")

    # -- messages ---------------------------------------------------------------------------------

    def payment_event(self, event: PaymentEvent) -> None:
        """A verified charge attempt for one of this subscription's periods."""
        if self._duplicate(event.event_key):
            return
        reference = event.outcome.subscription_reference
        change = self.sub.pending_change
        if change is not None and reference and reference == change.provider_reference:
            self.sub.note(clock_now(), "notification", f"plan change charge: {event.outcome.provider_status}")
            return
        if reference and self.sub.provider_reference and reference != self.sub.provider_reference:
            self.sub.note(clock_now(), "notification", "payment of an earlier generation: recorded only")
            return
        self.sub.apply_period_payment(event.outcome, source="notification", at=clock_now())
        self._grant()
        self._publish()

    def subscription_event(self, event: SubscriptionEvent) -> None:
        """A verified statement about the subscription (status change, period changed)."""
        if self._duplicate(event.event_key):
            return
        self._apply_status(event.outcome, f"notification.{event.event_type.value.lower()}")

    def check_now(self) -> None:
        self.check_requested = True

    async def submit(self, request: SubmitSubscription) -> Subscription:
        """Creation (update-with-start): returns once the provider answered, with the authorization URL."""
        await workflow.wait_condition(lambda: self.created)
        return self.sub

    def validate_submit(self, request: SubmitSubscription) -> None:
        if request.fingerprint != self.fingerprint:
            raise rejected(
                ConflictError(
                    f"subscription {request.subscription_id} exists with different parameters", field="subscription_id"
                )
            )

    async def cancel(self, request: CancelSubscriptionRequest) -> Subscription:
        try:
            self._check_cancel(request)
        except InputError as exc:
            raise rejected(exc) from exc
        now = clock_now()
        if request.at_period_end:
            self.sub.cancel_at_period_end = True
            self.sub.note(now, "cancel_at_period_end", request.reason or "requested by the merchant")
            self._publish()
            return self.sub
        self.sub.note(now, "cancel_requested", request.reason or "requested by the merchant")
        if self.sub.mode in ENGINE_MODES:
            # Nothing runs at the provider between invoices: the engine simply stops billing.
            self.sub.cancelled_by = CancelledBy.MERCHANT
            self.sub.move(SubscriptionStatus.CANCELLED, now, "cancelled", request.reason or "by the merchant")
            self.sub.void_unpaid_invoices(now)
            self.sub.refresh_next_billing()
        else:
            await self._cancel_at_provider("merchant")
        self._publish()
        return self.sub

    def validate_cancel(self, request: CancelSubscriptionRequest) -> None:
        try:
            self._check_cancel(request)
        except InputError as exc:
            raise rejected(exc) from exc

    def _check_cancel(self, request: CancelSubscriptionRequest) -> None:
        self.sub.check_cancel(request)
        if self.sub.status is SubscriptionStatus.INCOMPLETE and self.sub.mode not in ENGINE_MODES:
            raise InvalidStateError(
                "an INCOMPLETE provider-managed subscription cannot be cancelled at the provider; "
                "it closes by itself when its authorization window ends"
            )

    def resume(self, request: ResumeSubscriptionRequest) -> Subscription:
        """Undo a cancel-at-period-end before the period ends, or resume a paused subscription."""
        if self.sub.status is SubscriptionStatus.PAUSED:
            # Periods that started while paused are skipped: billing resumes with the next period.
            self._skip_paused_periods()
            self.sub.move(SubscriptionStatus.ACTIVE, clock_now(), "resumed", request.reason or "billing resumes")
            self.sub.refresh_next_billing()
        else:
            self.sub.cancel_at_period_end = False
            self.sub.note(clock_now(), "resumed", request.reason or "cancel at period end withdrawn")
        self._publish()
        return self.sub

    def _skip_paused_periods(self) -> None:
        sub = self.sub
        if sub.calendar is None:
            return
        current = sub.calendar.period_at(clock_now())
        if current is not None and current.number > sub.current_period + 1:
            sub.note(clock_now(), "paused_periods", f"periods {sub.current_period + 1}..{current.number} not billed")
            sub.current_period = current.number
            sub.refresh_next_billing()

    def validate_resume(self, request: ResumeSubscriptionRequest) -> None:
        try:
            self.sub.check_resume()
        except InputError as exc:
            raise rejected(exc) from exc

    async def change_plan(self, request: ChangePlanRequest) -> Subscription:
        """Change plan now (prorated) or at the end of the current period."""
        now = clock_now()
        try:
            proration = self.sub.check_change_request(request, now)
        except InputError as exc:
            raise rejected(exc) from exc
        generation = self.sub.generation + 1
        change = PendingChange(
            generation=generation,
            request_key=idempotency.subscription_key(self.request.subscription_id, generation),
            plan=request.plan,
            proration=proration,
            scheduled=request.at_period_end,
            requested_at=now,
        )
        self.sub.pending_change = change
        if request.at_period_end:
            self.sub.note(now, "change_scheduled", f"to {request.plan.plan_id} at period end")
        elif self.sub.mode in ENGINE_MODES:
            assert proration is not None
            await self._change_engine_now(request.plan, proration)
        else:
            await self._send_change(change)
        self._publish()
        return self.sub

    def validate_change_plan(self, request: ChangePlanRequest) -> None:
        try:
            self.sub.check_change_request(request, clock_now())
        except InputError as exc:
            raise rejected(exc) from exc

    async def _send_change(self, change: PendingChange) -> None:
        """Ask the provider for the new generation, crediting the unused part of the current period."""
        now = clock_now()
        if change.proration is None:
            change.proration = self.sub.preview_change(change.plan, now)
        change.scheduled = False
        proration = change.proration
        self.sub.note(
            now,
            "change_requested",
            f"to {change.plan.plan_id}: credit {proration.credit}, charge {proration.charge}, net {proration.net}",
        )
        request = ChangeSubscription(
            idempotency_key=change.request_key,
            original=SubscriptionRef(
                idempotency_key=self.sub.request_key, provider_reference=self.sub.provider_reference
            ),
            merchant_subscription_id=self.request.subscription_id,
            new_plan=change.plan,
            remaining_credit=-proration.credit,
            customer=self.request.customer,
            success_url=self.request.success_url,
            failure_url=self.request.failure_url,
            cancel_url=self.request.cancel_url,
            requested_at=change.requested_at,
        )
        try:
            outcome = await self._call(
                SubscriptionActivities.change,
                ChangeSubscriptionCall(
                    provider=self.request.provider, subscription_id=self.request.subscription_id, request=request
                ),
                retry=MONEY_RETRY,
                summary=f"change plan to {change.plan.plan_id}",
            )
        except (InconclusiveCallError, ActivityError) as exc:
            self.sub.note(clock_now(), "provider.change", f"no answer: {describe(exc)}; inquiring")
            return
        self._apply_change(outcome, "provider.change")

    def _apply_change(self, outcome: ChangeOutcome, source: str) -> None:
        change = self.sub.pending_change
        if change is None or (outcome.idempotency_key and outcome.idempotency_key != change.request_key):
            self.sub.note(clock_now(), source, f"change statement for no pending change: {outcome.provider_status}")
            return
        change.provider_reference = outcome.provider_reference or change.provider_reference
        change.customer_action = outcome.customer_action or change.customer_action
        if outcome.status is ChangeStatus.CLOSED:
            self.sub.pending_change = None
            failure = f": {outcome.failure.code} {outcome.failure.message}" if outcome.failure else ""
            self.sub.note(clock_now(), source, f"plan change to {change.plan.plan_id} closed{failure}")
        elif outcome.status is ChangeStatus.SUCCEEDED:
            self.sub.complete_change(clock_now(), clock_now(), source)
            self._grant()
        else:
            self.sub.note(
                clock_now(),
                source,
                f"plan change {outcome.provider_status or 'pending'}"
                + (": the customer must authorize it" if change.customer_action else ""),
            )
        self._publish()

    def change_event(self, event: SubscriptionChangeEvent) -> None:
        """A verified statement about a plan change."""
        if self._duplicate(event.event_key):
            return
        self._apply_change(event.outcome, "notification.change")

    def preview_change(self, plan: SubscriptionPlan) -> Proration:
        """What changing to ``plan`` now would credit and charge; changes nothing."""
        return self.sub.preview_change(plan, clock_now())

    def validate_preview(self, plan: SubscriptionPlan) -> None:
        try:
            self.sub.preview_change(plan, clock_now())
        except InputError as exc:
            raise rejected(exc) from exc

    async def management_link(self, request: ManagementLinkRequest) -> ManagementLink:
        """A short-lived URL where the customer manages the subscription at the provider."""
        try:
            link: ManagementLink = await self._call(
                SubscriptionActivities.manage,
                ManageSubscriptionCall(
                    provider=self.request.provider, request=ManageSubscription(subscription=self._ref())
                ),
                retry=INQUIRY_RETRY,
                summary="management link",
            )
            return link
        except (InconclusiveCallError, ActivityError) as exc:
            raise ApplicationError(
                f"the provider gave no management link: {describe(exc)}",
                type=InvalidStateError.__name__,
                non_retryable=True,
            ) from exc

    def validate_management_link(self, request: ManagementLinkRequest) -> None:
        if self.sub.status not in (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE):
            raise rejected(
                InvalidStateError(f"only an ACTIVE subscription has a management link; it is {self.sub.status}")
            )

    def status(self) -> Subscription:
        return self.sub

    def invoices(self) -> list[Invoice]:
        return self.sub.invoices

    # -- helpers ----------------------------------------------------------------------------------

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
        if self._published is None and workflow.info().typed_search_attributes.get(sa.BILLING_STATUS) is None:
            updates += [
                sa.PROVIDER.value_set(sub.provider),
                sa.CUSTOMER_ID.value_set(sub.customer_id),
                sa.AMOUNT_MINOR.value_set(sub.plan.amount.amount_minor),
                sa.CURRENCY.value_set(sub.plan.amount.currency),
            ]
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
