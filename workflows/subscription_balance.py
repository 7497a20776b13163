"""Engine modes and the customer's credit balance: a downgrade credits it, the next invoices consume it first.

Both movements are local activities on the customer's ``CustomerBalanceWorkflow`` (``activities/balance.py``),
idempotent by their reference, so a retried activity or a replay never moves money twice: a downgrade's credit
is referenced by the subscription, its plan generation and the change's number; an invoice's consumption by
the invoice id. A local activity records one marker in the history, not an activity's three events: every
period invoice asks the balance.

Histories from before the balance carry a downgrade's credit on the subscription (``credit_balance``) and
never ask the balance for an invoice; each behaviour is gated by its own patch, so they replay unchanged. A
subscription that still carries such a credit uses it first, then the customer's balance. Workflow code.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

from activities.balance import BalanceActivities, BalanceCall
from billing import events
from billing.balance import BalanceChange, LedgerEntry
from billing.invoices import Invoice, InvoiceLine, InvoiceState, LineKind
from billing.money import Money
from billing.subscriptions import Subscription
from workflows.common import LEDGER_WAIT, LEDGER_WAIT_TIMEOUT, SINGLE_SHOT, asked_in_task_first, not_ready, started_with

#: A downgrade now credits the customer's balance (before: the subscription's own ``credit_balance``).
DOWNGRADE_TO_BALANCE_PATCH = "downgrade-credits-customer-balance"
#: A period invoice consumes the customer's balance before anything is charged.
INVOICE_CONSUMES_BALANCE_PATCH = "invoice-consumes-customer-balance"
#: The balance is another workflow of this namespace: asked again until it answers (the reference keeps
#: every attempt to one movement).
BALANCE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
BALANCE_TIMEOUT = timedelta(seconds=30)

#: A voided invoice gives back what the balance paid of it (runs from before never had such an invoice).
VOID_RETURNS_BALANCE_PATCH = "voided-invoice-returns-customer-balance"
#: The description of the line that says what the customer's balance paid of an invoice.
BALANCE_LINE = "Customer balance applied"

DOWNGRADE_REASON = "downgrade"
INVOICE_REASON = "invoice"


def _bounded() -> bool:
    """Whether this run bounds its waits for the balance (started with the feature; runs from before wait in
    the local activity until it answers, as their histories recorded)."""
    return started_with(events.BALANCE_WAITS_BOUNDED_FEATURE)


async def _move(
    method: Callable[[BalanceActivities, BalanceCall], Awaitable[LedgerEntry]], call: BalanceCall, summary: str
) -> LedgerEntry:
    """One movement, asked in the workflow task (a local activity: one marker); bounded, for runs started with
    the feature: at most :data:`workflows.common.LEDGER_WAIT`, else (``NotReady``: the balance did not answer in time or
    enough tasks of the worker wait already) through the ordinary activity, which holds no workflow task slot.
    The reference makes the second ask the same movement."""
    if not _bounded():
        entry: LedgerEntry = await workflow.execute_local_activity_method(
            method, call, start_to_close_timeout=BALANCE_TIMEOUT, retry_policy=BALANCE_RETRY, summary=summary
        )
        return entry

    async def in_task() -> LedgerEntry:
        local: LedgerEntry = await workflow.execute_local_activity_method(
            method,
            call.model_copy(update={"wait_s": LEDGER_WAIT.total_seconds()}),
            schedule_to_close_timeout=LEDGER_WAIT_TIMEOUT,
            retry_policy=SINGLE_SHOT,
            summary=summary,
        )
        return local

    async def through_activity() -> LedgerEntry:
        asked: LedgerEntry = await workflow.execute_activity_method(
            method, call, start_to_close_timeout=BALANCE_TIMEOUT, retry_policy=BALANCE_RETRY, summary=summary
        )
        return asked

    # The balance's refusal of the movement is raised as before; only a wait run out or refused asks again.
    return await asked_in_task_first(in_task, through_activity, falls_back=not_ready)


def downgrade_reference(sub: Subscription) -> str:
    """The n-th plan change of the subscription (its ``plan_changed`` notes, this one included)."""
    changes = sum(1 for entry in sub.timeline if entry.event == "plan_changed")
    return f"downgrade:{sub.subscription_id}:g{sub.generation}:{changes}"


async def credit_downgrade(sub: Subscription, credit: Money) -> LedgerEntry | None:
    """Credit a downgrade's unused part to the customer's balance; None for a history from before the
    balance (the caller carries the credit on the subscription, as such histories did)."""
    if not workflow.patched(DOWNGRADE_TO_BALANCE_PATCH):
        return None
    change = BalanceChange(amount=credit, reason=DOWNGRADE_REASON, reference=downgrade_reference(sub))
    return await _move(
        BalanceActivities.credit, BalanceCall(customer_id=sub.customer_id, change=change),
        f"credit {credit} to the customer's balance",
    )  # fmt: skip


async def consume_for_invoice(sub: Subscription, invoice_id: str, due: Money) -> Money:
    """What the customer's balance pays of an invoice that would collect ``due``: at most ``due``, taken
    once per invoice id. Zero without asking when nothing is due or the history predates the balance."""
    zero = Money.zero(due.currency)
    if not due.is_positive() or not workflow.patched(INVOICE_CONSUMES_BALANCE_PATCH):
        return zero
    change = BalanceChange(amount=due, reason=INVOICE_REASON, reference=invoice_id)
    entry = await _move(
        BalanceActivities.apply_up_to, BalanceCall(customer_id=sub.customer_id, change=change),
        f"customer balance for {invoice_id}",
    )  # fmt: skip
    return -entry.amount


async def return_to_balance(sub: Subscription, invoice_id: str, used: Money) -> None:
    """Give back what the balance paid of an invoice voided before it was charged (once per invoice)."""
    if not used.is_positive():
        return
    change = BalanceChange(amount=used, reason="invoice voided", reference=f"{invoice_id}:void")
    await _move(
        BalanceActivities.credit, BalanceCall(customer_id=sub.customer_id, change=change),
        f"return {used} to the customer's balance",
    )  # fmt: skip


def balance_line(used: Money) -> InvoiceLine:
    """The invoice line of what the customer's balance paid (a ``credit_applied`` line)."""
    return InvoiceLine(kind=LineKind.CREDIT_APPLIED, description=BALANCE_LINE, amount=-used)


def balance_paid(invoice: Invoice) -> Money:
    """What the customer's balance paid of ``invoice`` (its balance lines)."""
    paid = Money.zero(invoice.currency)
    for line in invoice.lines:
        if line.kind is LineKind.CREDIT_APPLIED and line.description == BALANCE_LINE:
            paid = paid - line.amount
    return paid


async def return_voided(sub: Subscription, returned: set[str]) -> None:
    """Give back to the balance what it paid of every voided invoice not given back yet (``returned``: the
    invoice ids this run gave back). Only runs with such an invoice ask the patch."""
    for invoice in sub.invoices:
        invoice_id = invoice.invoice_id
        if invoice.state is not InvoiceState.VOID or not invoice_id or invoice_id in returned:
            continue
        paid = balance_paid(invoice)
        if not paid.is_positive() or not workflow.patched(VOID_RETURNS_BALANCE_PATCH):
            continue
        await return_to_balance(sub, invoice_id, paid)
        returned.add(invoice_id)
