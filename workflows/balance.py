"""CustomerBalanceWorkflow: one customer's credit balance in each currency. Id ``balance:<merchant>:<customer>``.

Callers start it with update-with-start (``BillingClient``, the ``balance.*`` activities), so the first
movement and the start are one call. The ledger and its rules are :class:`billing.balance.Ledger`.

Every movement is an Update (``credit``, ``debit``, ``apply_up_to``) whose validator refuses bad input and
overspends before anything is recorded. The handlers are synchronous: the workflow runs one at a time, from
its check to its entry, so concurrent movements cannot overspend the balance. They check again, because the
validators of concurrent updates can all run before any handler does.

The run continues as new past a history length (or when the server suggests it), after every handler
finished, carrying the balances, the recent entries and the references (:meth:`Ledger.carry`).
"""

from __future__ import annotations

from temporalio import workflow

from billing.balance import BalanceChange, BalanceState, CustomerBalance, Ledger, LedgerEntry, MovementKind
from billing.errors import InputError
from workflows.common import clock_now, ledger_queue_to_continue_on, rejected


@workflow.defn(name="CustomerBalanceWorkflow")
class CustomerBalanceWorkflow:
    @workflow.init
    def __init__(self, state: BalanceState) -> None:
        # The input is taken here, not in run: the update delivered with the start runs before run does.
        self.ledger = Ledger(state)

    @workflow.run
    async def run(self, state: BalanceState) -> None:
        await workflow.wait_condition(
            lambda: (
                workflow.info().get_current_history_length() > self.ledger.state.history_limit
                or workflow.info().is_continue_as_new_suggested()
            )
        )
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(self.ledger.carry(), task_queue=ledger_queue_to_continue_on())

    def _move(self, kind: MovementKind, change: BalanceChange) -> LedgerEntry:
        try:
            return self.ledger.apply(kind, change, clock_now())
        except InputError as exc:
            raise rejected(exc) from exc

    def _check(self, kind: MovementKind, change: BalanceChange) -> None:
        try:
            self.ledger.check(kind, change)
        except InputError as exc:
            raise rejected(exc) from exc

    @workflow.update
    def credit(self, change: BalanceChange) -> LedgerEntry:
        return self._move(MovementKind.CREDIT, change)

    @credit.validator
    def _validate_credit(self, change: BalanceChange) -> None:
        self._check(MovementKind.CREDIT, change)

    @workflow.update
    def debit(self, change: BalanceChange) -> LedgerEntry:
        """Take exactly ``change.amount``; refused when the balance is smaller."""
        return self._move(MovementKind.DEBIT, change)

    @debit.validator
    def _validate_debit(self, change: BalanceChange) -> None:
        self._check(MovementKind.DEBIT, change)

    @workflow.update
    def apply_up_to(self, change: BalanceChange) -> LedgerEntry:
        """Take what the balance holds, at most ``change.amount`` (an invoice's consumption)."""
        return self._move(MovementKind.APPLY_UP_TO, change)

    @apply_up_to.validator
    def _validate_apply_up_to(self, change: BalanceChange) -> None:
        self._check(MovementKind.APPLY_UP_TO, change)

    @workflow.query
    def balance(self, currency: str | None = None) -> CustomerBalance:
        return self.ledger.snapshot(currency)
