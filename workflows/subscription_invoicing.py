"""Invoices of one subscription: numbers from the merchant's gap-free sequence, drafts, provider-charged periods.

Numbers are allocated before a charge is asked, so a number is durable in the history whatever happens
next (see docs/architecture.md, "Subscription invoices"). Workflow code.

Runs started with the ``numbers-in-task`` feature (or past the ``invoice-numbers-in-task`` patch) take a
number in the workflow task that needs it (a local activity, one marker) and confirm it from a later workflow
task, one the run has anyway (the next signal, timer or activity result): two markers a period instead of two
activities and their two workflow tasks. Confirming in the allocation's own task would be too early: until
that task completes the number is not in the history, and a sequence that forgot a confirmed id would hand
a retried task a second number.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from activities.invoices import AllocateNumber, ConfirmNumber, InvoiceActivities
from billing import events
from billing.invoices import INVOICE_SERIES, Invoice, InvoiceLine, InvoiceNumber, InvoiceState
from billing.subscriptions import (
    BillingPeriodRecord,
)
from workflows.common import (
    LEDGER_WAIT,
    LEDGER_WAIT_TIMEOUT,
    LOCAL_FAILURES,
    SINGLE_SHOT,
    asked_in_task_first,
    clock_now,
    describe,
    started_with,
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
#: Runs started without the ``numbers-in-task`` feature in their memo ask this patch at their first number.
NUMBERS_IN_TASK_PATCH = "invoice-numbers-in-task"
#: A confirmation in a workflow task: a signal to the sequence, quick or failed.
LOCAL_CONFIRM_TIMEOUT = timedelta(seconds=5)
LOCAL_CONFIRM_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_attempts=3)


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

    def _numbers_in_task(self) -> bool:
        """Whether this run takes its numbers in the workflow task that needs them (decided at its first number;
        runs from before ask the patch there, so their histories replay with their activities)."""
        if self._in_task is None:
            self._in_task = started_with(events.NUMBERS_IN_TASK_FEATURE) or workflow.patched(NUMBERS_IN_TASK_PATCH)
        return self._in_task

    async def _allocate(self, document_id: str, series: str = INVOICE_SERIES) -> InvoiceNumber:
        async def in_task() -> InvoiceNumber:
            local: InvoiceNumber = await workflow.execute_local_activity_method(
                InvoiceActivities.allocate,
                AllocateNumber(document_id=document_id, series=series, wait_s=LEDGER_WAIT.total_seconds()),
                schedule_to_close_timeout=LEDGER_WAIT_TIMEOUT,
                retry_policy=SINGLE_SHOT,
                summary=f"number for {document_id}",
            )
            return local

        async def through_activity() -> InvoiceNumber:
            number: InvoiceNumber = await workflow.execute_activity_method(
                InvoiceActivities.allocate,
                AllocateNumber(document_id=document_id, series=series),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=ALLOCATE_RETRY,
                summary=f"number for {document_id}",
            )
            return number

        def asked_again(exc: BaseException) -> bool:
            # Whatever failed in the task (histories recorded so), the ordinary activity asks again and waits.
            self.sub.note(clock_now(), "invoice", f"number for {document_id} asked again: {describe(exc)}")
            return True

        if not self._numbers_in_task():
            return await through_activity()
        return await asked_in_task_first(in_task, through_activity, falls_back=asked_again)

    async def _confirm(self, allocated: InvoiceNumber, document_id: str) -> None:
        """The number is stored with its document (this history): the sequence may forget the id. An
        activity, not a signal from the workflow: the confirmation is a courtesy to the sequence's memory,
        and a failed one only keeps the id there longer. Runs that take numbers in the task leave it to a later
        workflow task (:meth:`_confirm_stored_numbers`)."""
        if self._numbers_in_task():
            stored_in = workflow.info().get_current_history_length()
            self._unconfirmed.append((allocated.sequence_workflow_id, document_id, stored_in))
            return
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

    def _confirmations_due(self) -> bool:
        now = workflow.info().get_current_history_length()
        return any(stored_in < now for _, _, stored_in in self._unconfirmed)

    async def _confirm_stored_numbers(self) -> None:
        """Confirms each number once a later workflow task runs: the task that stored it completed, so the
        number is in the history. Runs alongside the run's main line for its whole life."""
        while True:
            await workflow.wait_condition(self._confirmations_due)
            self._confirming = True
            try:
                await self._confirm_due_numbers()
            finally:
                self._confirming = False

    async def _confirm_due_numbers(self) -> None:
        now = workflow.info().get_current_history_length()
        for entry in [entry for entry in self._unconfirmed if entry[2] < now]:
            sequence_id, document_id, _ = entry
            try:
                await workflow.execute_local_activity_method(
                    InvoiceActivities.confirm,
                    ConfirmNumber(sequence_workflow_id=sequence_id, document_id=document_id),
                    start_to_close_timeout=LOCAL_CONFIRM_TIMEOUT,
                    retry_policy=LOCAL_CONFIRM_RETRY,
                    summary=f"confirm {document_id}",
                )
            except LOCAL_FAILURES as exc:
                self.sub.note(clock_now(), "invoice", f"{document_id} not confirmed: {describe(exc)}")
            # Kept until now: a run that continues as new meanwhile carries it to the next (confirming twice
            # is harmless).
            self._unconfirmed.remove(entry)

    def _carried_confirmations(self) -> list[tuple[str, str]]:
        """What the next run confirms (continue-as-new): every number stored in this run's history."""
        return [(sequence_id, document_id) for sequence_id, document_id, _ in self._unconfirmed]

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
