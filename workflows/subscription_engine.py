"""Engine modes (engine-charged, engine-invoiced): the engine owns the calendar and bills each period.

Each period is invoiced through a child OrderWorkflow; a failed period is retried on the dunning schedule
and, when every retry failed, the subscription becomes UNPAID or CANCELLED (policy). A plan change now is
priced here: the prorated net is charged through an order, or a credit goes to the customer's balance, which
the next invoices consume first (``workflows/subscription_balance.py``).
Workflow code.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

from billing import events
from billing.change_preview import adjustment_invoice_id
from billing.errors import InputError
from billing.gateway import (
    CancelledBy,
    SubscriptionPlan,
)
from billing.invoices import InvoiceState
from billing.money import Money
from billing.orders import CreateOrder, OrderPolicy, OrderUpdate, order_workflow_id
from billing.proration import Proration
from billing.subscriptions import (
    Adjustment,
    BillingMode,
    BillingPeriodRecord,
    DunningOutcome,
    PauseSubscriptionRequest,
    PeriodStatus,
    Subscription,
    SubscriptionStatus,
)
from providers.registry import provider_spec
from workflows.common import (
    clock_now,
    rejected,
)
from workflows.subscription_balance import balance_line, consume_for_invoice, credit_downgrade, return_to_balance
from workflows.subscription_invoicing import Invoicing

#: A period covered by credit is billed on to the next period instead of waiting for an order never started.
COVERED_PERIOD_PATCH = "covered-period-bills-on"
#: States a paid period makes ACTIVE (``Subscription.apply_order_update``).
BILLABLE_UNTIL_PAID = (SubscriptionStatus.TRIALING, SubscriptionStatus.PAST_DUE, SubscriptionStatus.INCOMPLETE)


def _paid(record: BillingPeriodRecord) -> bool:
    """Read after an await: issuing the invoice may have paid the period (the status is not what it was)."""
    return record.status is PeriodStatus.PAID


class EngineBilling(Invoicing):
    """The engine bills each period itself, through invoice orders."""

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
            if _paid(record) and workflow.patched(COVERED_PERIOD_PATCH):
                # Covered by credit when it was issued: no order to wait for. Runs from before this waited
                # here for good (the next period was never billed); their histories replay as they were.
                break
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
        if self.simulated_now is not None:
            # On a test clock the order's payment window is the clock's: advance closes it when it passes.
            self.clock_payment = (record, clock_now() + self.policy.invoice_due)
        try:
            await workflow.wait_condition(
                lambda: (
                    record.status is not before or self.sub.is_final or self.sub.status is SubscriptionStatus.PAUSED
                ),
                timeout_summary=f"await invoice {record.order_id}",
            )
        finally:
            self.clock_payment = None

    async def _issue_invoice(self, record: BillingPeriodRecord, attempt: int) -> None:
        sub = self.sub
        order_id = sub.period_order_id(record.number, attempt)
        invoice_id = sub.period_invoice_id(record)
        invoice = sub.invoice(invoice_id)
        retry = invoice is not None and invoice.state is not InvoiceState.DRAFT
        # The coupon's part of this period (zero without one: the amounts of every run before coupons).
        discount = sub.period_discount(record)
        if invoice is not None and retry:
            # A dunning retry collects what the invoice says; its credit was used by the first attempt.
            amount = Money(amount_minor=invoice.amount_due, currency=invoice.currency)
        else:
            amount = sub.invoice_amount(discount)
        # What the subscription's own carried credit leaves; the customer's balance pays first from it.
        local_due = amount
        used = Money.zero(amount.currency)
        if invoice is None and self._invoices_on():
            used = await consume_for_invoice(sub, invoice_id, local_due)
            amount = local_due - used
            lines = sub.period_invoice_lines(record, local_due, discount)
            lines += [balance_line(used)] if used.is_positive() else []
            # Numbered before the charge is asked: the number is durable in this history, whatever happens.
            invoice = await self._new_invoice(invoice_id, lines, order_id=order_id, record=record)
            if sub.is_final:
                # Cancelled while the number was allocated: the period is never charged.
                sub.move_invoice(invoice_id, InvoiceState.VOID, clock_now())
                await return_to_balance(sub, invoice_id, used)
                self._balance_returned.add(invoice_id)
                self._publish()
                return
        record.order_id = order_id
        record.checkout_url = None
        record.amount = amount
        if not amount.is_positive():
            # Credit (the customer's balance, a carried downgrade credit) or the coupon covers the whole period.
            sub.consume_credit(local_due, discount)
            record.status = PeriodStatus.PAID
            record.paid_at = clock_now()
            sub.current_period = max(sub.current_period, record.number)
            covered = f"period {record.number} covered by credit"
            if used.is_positive() and sub.status in BILLABLE_UNTIL_PAID:
                # Paid by the customer's balance as an order would have paid it (only runs that ask the
                # balance get here: older histories keep their commands).
                sub.move(SubscriptionStatus.ACTIVE, clock_now(), "invoice", covered)
            else:
                sub.note(clock_now(), "invoice", covered)
            if invoice is not None:
                sub.move_invoice(invoice_id, InvoiceState.OPEN, clock_now(), order_id=order_id)
                sub.move_invoice(invoice_id, InvoiceState.PAID, clock_now())
            sub.refresh_next_billing()
            return
        record.status = PeriodStatus.PENDING
        if not retry:
            sub.consume_credit(local_due, discount)
        if invoice is not None:
            sub.move_invoice(invoice_id, InvoiceState.OPEN, clock_now(), order_id=order_id)
        sub.note(clock_now(), "invoice", f"period {record.number}: order {order_id} for {amount}")
        await self._start_order(order_id, amount, f"{sub.plan.description}, period {record.number}")

    async def _change_engine_now(self, plan: SubscriptionPlan, proration: Proration) -> None:
        """Engine billing prices the change itself: charge the prorated net now, or carry the credit."""
        sub = self.sub
        now = clock_now()
        sub.pending_change = None
        old_plan = sub.plan
        coupon_notes = sub.change_coupon_notes(plan, now)
        previous, sub.plan = sub.plan.plan_id, plan
        sub.note(
            now,
            "plan_changed",
            f"from {previous} to {plan.plan_id}: credit {proration.credit}, "
            f"charge {proration.charge}, net {proration.net}",
        )
        if proration.net.is_positive():
            order_id = adjustment_invoice_id(sub)
            sub.adjustments.append(
                Adjustment(order_id=order_id, amount=proration.net, reason=f"upgrade to {plan.plan_id}")
            )
            if self._invoices_on():
                lines = sub.proration_lines(old_plan, plan, proration, **coupon_notes)
                await self._new_invoice(order_id, lines, order_id=order_id)
                sub.move_invoice(order_id, InvoiceState.OPEN, clock_now())
            await self._start_order(order_id, proration.net, f"Upgrade to {plan.description}")
        elif proration.net.is_negative():
            entry = await credit_downgrade(sub, proration.credit_carried)
            if entry is not None:
                sub.note(now, "credit", f"{proration.credit_carried} credited to the customer's balance")
            else:
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

    def _skip_paused_periods(self) -> None:
        sub = self.sub
        if sub.calendar is None:
            return
        current = sub.calendar.period_at(clock_now())
        if current is not None and current.number > sub.current_period + 1:
            sub.note(clock_now(), "paused_periods", f"periods {sub.current_period + 1}..{current.number} not billed")
            sub.current_period = current.number
            sub.refresh_next_billing()
