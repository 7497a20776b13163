"""Invoices of one subscription: numbers from the merchant's gap-free sequence, drafts, provider-charged periods.

Numbers are allocated before a charge is asked, so a number is durable in the history whatever happens
next (see docs/architecture.md, "Subscription invoices"). Workflow code.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from activities.invoices import AllocateNumber, ConfirmNumber, InvoiceActivities
from billing.invoices import INVOICE_SERIES, Invoice, InvoiceLine, InvoiceNumber, InvoiceState
from billing.subscriptions import (
    BillingPeriodRecord,
)
from workflows.common import (
    clock_now,
    describe,
)
from workflows.subscription_run import SubscriptionRun

#: Runs started without the invoices feature in their memo (histories from before invoices) ask this patch
#: before their first invoice, so those histories replay unchanged.
INVOICES_PATCH = "subscription-invoices"
#: Number allocation only asks the merchant's sequence workflow: retried until it answers.
ALLOCATE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
CONFIRM_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1), maximum_attempts=5
)


class Invoicing(SubscriptionRun):
    """Invoices: numbered drafts, opened with their charge, settled with its outcome."""

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
