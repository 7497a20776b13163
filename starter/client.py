"""BillingClient: the typed, async Python API merchant applications use.

Every method validates its input before anything is sent and raises the engine's own errors
(:mod:`billing.errors`) with the offending field named; Temporal's exceptions never leak out.

    async with await BillingClient.connect() as billing:
        order = await billing.create_order(CreateOrder(...))
        print(order.customer_action.url)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from datetime import timedelta
from types import TracebackType
from typing import Any, NoReturn, Self, TypeVar

from pydantic import ValidationError
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.common import (
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.workflow import UpdateMethodMultiParam

from billing import errors
from billing import search_attributes as sa
from billing.balance import (
    DEFAULT_MERCHANT,
    BalanceChange,
    BalanceState,
    CustomerBalance,
    LedgerEntry,
    balance_workflow_id,
)
from billing.change_preview import ChangePreview
from billing.events import features_memo
from billing.gateway import ManagementLink, SubscriptionPlan
from billing.invoices import CreditNote, Invoice
from billing.money import Money, normalize_currency
from billing.orders import (
    CancelRequest,
    CaptureRequest,
    CreateOrder,
    Order,
    OrderStatus,
    Refund,
    RefundRequest,
    ResolveRequest,
    SubmitOrder,
    order_workflow_id,
)
from billing.queues import ledger_task_queue
from billing.settings import TemporalSettings
from billing.subscriptions import (
    CancelSubscriptionRequest,
    ChangePlanRequest,
    ManagementLinkRequest,
    PauseSubscriptionRequest,
    ResumeSubscriptionRequest,
    StartSubscription,
    SubmitSubscription,
    Subscription,
    SubscriptionInput,
    SubscriptionStatus,
    subscription_of_invoice,
    subscription_workflow_id,
)
from host.temporal import QUERY_SETTLE_SECONDS, await_quiet, connect
from starter.client_clocks import ClockCommands
from starter.client_coupons import CouponCommands
from starter.client_resend import admitted
from workflows.balance import CustomerBalanceWorkflow
from workflows.common import STALE_CLOCK
from workflows.order import OrderWorkflow
from workflows.subscription import SubscriptionWorkflow

#: What a workflow refuses an update with (``workflows.common.rejected``: an ``ApplicationError`` whose type is
#: the class name, the field in its details), mapped back to the same class: every InputError of the tree.
INPUT_ERRORS: dict[str, type[errors.InputError]] = {
    name: cls for name, cls in errors.ERRORS.items() if issubclass(cls, errors.InputError)
}

#: Between two reads of a workflow whose query was refused for a stale clock (``BillingClient._read``).
STALE_READ_PAUSE = 0.5

A = TypeVar("A")
R = TypeVar("R")


def input_error_from_validation(exc: ValidationError, prefix: str = "") -> errors.InputError:
    """The first problem pydantic found, as an InputError naming the field."""
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or None
    if prefix and field:
        field = f"{prefix}.{field}"
    message = str(first["msg"]).removeprefix("Value error, ")
    return errors.InputError(message, field=field or prefix or None)


def _raise_from_update(exc: WorkflowUpdateFailedError, subject: str) -> NoReturn:
    cause = exc.cause
    if isinstance(cause, ApplicationError):
        cls = INPUT_ERRORS.get(cause.type or "")
        if cls is not None:
            field = cause.details[0] if cause.details and isinstance(cause.details[0], str) else None
            raise cls(cause.message, field=field) from exc
        if cause.type == "ValidationError":
            raise errors.InputError(cause.message) from exc
    raise errors.BillingError(f"{subject}: {cause or exc}") from exc


class BillingClient(ClockCommands, CouponCommands):
    """Create and command orders. One instance per application; safe to share across tasks."""

    def __init__(
        self,
        client: Client,
        *,
        task_queue: str = "billing",
        read_wait: float = QUERY_SETTLE_SECONDS,
        merchant: str = "default",
    ) -> None:
        self.temporal = client
        self.task_queue = task_queue
        #: Whose coupons it creates and redeems: the worker's ``BILLING_WORKER_INVOICE_MERCHANT``.
        self.merchant = merchant
        #: How long a read waits for a pending workflow task before it gives up (WorkflowBusyError).
        self.read_wait = read_wait

    @classmethod
    async def connect(cls, settings: TemporalSettings | None = None) -> Self:
        settings = settings or TemporalSettings()
        try:
            client = await connect(settings)
        except RuntimeError as exc:
            raise errors.ConfigurationError(
                f"cannot reach Temporal at {settings.address}: {exc}", setting="BILLING_TEMPORAL_ADDRESS"
            ) from exc
        from worker import WorkerSettings  # the worker's merchant: its coupons are the ones its subscriptions redeem

        return cls(client, task_queue=settings.task_queue, merchant=WorkerSettings().invoice_merchant)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    # -- orders ---------------------------------------------------------------------------------------

    async def create_order(self, request: CreateOrder) -> Order:
        """Create the order and its payment at the provider; returns the customer action with the state.

        Idempotent by ``order_id``: the same request again returns the same order; a different request
        with the same ``order_id`` raises ConflictError. With a ``coupon``, the provider is asked for the
        amount less its discount (the coupon is redeemed for the order id, once).
        """
        request = await self._order_with_coupon(request)

        def operation() -> WithStartWorkflowOperation[Any, Any]:
            return WithStartWorkflowOperation(
                OrderWorkflow.run,
                request,
                id=order_workflow_id(request.order_id),
                task_queue=self.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                static_summary=request.summary,
                memo=features_memo(),
                static_details=(
                    f"Customer `{request.customer.customer_id}` · capture {request.capture_mode.value.lower()}"
                ),
                search_attributes=sa.at_start(
                    status=OrderStatus.CREATED.value,
                    provider=request.provider,
                    customer_id=request.customer.customer_id,
                    amount=request.amount,
                ),
            )

        try:
            return await admitted(
                lambda: self.temporal.execute_update_with_start_workflow(
                    OrderWorkflow.submit,
                    SubmitOrder(order_id=request.order_id, fingerprint=request.fingerprint()),
                    start_workflow_operation=operation(),
                )
            )
        except WorkflowUpdateFailedError as exc:
            _raise_from_update(exc, request.order_id)
        except WorkflowAlreadyStartedError:
            # The order's workflow has closed (its refund window ended): answer from its final state.
            existing = await self.get_order(request.order_id)
            if existing.amount != request.amount or existing.provider != request.provider:
                raise errors.ConflictError(
                    f"order {request.order_id} exists with different parameters", field="order_id"
                ) from None
            return existing

    async def _await_quiet(self, workflow_id: str, what: str) -> None:
        """Before a query: no workflow task pending (host.temporal.await_quiet), else WorkflowBusyError."""
        if not await await_quiet(self.temporal, workflow_id, within=self.read_wait):
            raise errors.WorkflowBusyError(f"{what} has a workflow task waiting for a worker; not read (try again)")

    async def _read(self, workflow_id: str, query: Any, what: str, field: str) -> Any:
        """Query a workflow once no task is pending. A query refused for a stale clock (the worker that
        answered did not hold the run, and new events were waiting: ``workflows.common.clock_now``) is
        asked again until the run's task is done, within ``read_wait``; then WorkflowBusyError."""
        handle = self.temporal.get_workflow_handle(workflow_id)
        give_up = asyncio.get_running_loop().time() + self.read_wait
        try:
            while True:
                await self._await_quiet(handle.id, what)
                try:
                    return await handle.query(query)
                except WorkflowQueryFailedError as exc:
                    if STALE_CLOCK not in str(exc):
                        raise errors.BillingError(f"{what}: {exc}") from exc
                    if asyncio.get_running_loop().time() >= give_up:
                        raise errors.WorkflowBusyError(
                            f"{what} is being taken over by another worker; not read (try again)"
                        ) from exc
                    await asyncio.sleep(STALE_READ_PAUSE)
        except RPCError as exc:
            if exc.status is RPCStatusCode.NOT_FOUND:
                raise errors.NotFoundError(f"no {what}", field=field) from exc
            raise

    async def get_order(self, order_id: str) -> Order:
        order: Order = await self._read(
            order_workflow_id(order_id), OrderWorkflow.status, f"order {order_id}", "order_id"
        )
        return order

    async def capture(self, order_id: str, amount: Money | None = None) -> Order:
        return await self._update(order_id, OrderWorkflow.capture, CaptureRequest(amount=amount))

    async def cancel(self, order_id: str, reason: str | None = None) -> Order:
        return await self._update(order_id, OrderWorkflow.cancel, CancelRequest(reason=reason))

    async def refund(self, order_id: str, request: RefundRequest) -> Refund:
        return await self._update(order_id, OrderWorkflow.refund, request)

    async def resolve(self, order_id: str, request: ResolveRequest) -> Order:
        return await self._update(order_id, OrderWorkflow.resolve, request)

    async def check_now(self, order_id: str) -> None:
        """Ask the order to inquire at its provider now (e.g. after an unsigned redirect)."""
        await self._handle(order_id).signal(OrderWorkflow.check_now)

    async def wait_for_status(
        self,
        order_id: str,
        statuses: Iterable[OrderStatus],
        *,
        timeout: timedelta = timedelta(seconds=30),
        poll_interval: timedelta = timedelta(milliseconds=200),
    ) -> Order:
        """Poll until the order reaches one of ``statuses``; TimeoutError with the last state otherwise."""
        wanted = set(statuses)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout.total_seconds()
        while True:
            order = await self.get_order(order_id)
            if order.status in wanted:
                return order
            if loop.time() >= deadline:
                raise TimeoutError(f"order {order_id} is {order.status}, not {sorted(wanted)}")
            await asyncio.sleep(poll_interval.total_seconds())

    # -- subscriptions ----------------------------------------------------------------------------------

    async def create_subscription(self, request: StartSubscription, *, test_clock: str | None = None) -> Subscription:
        """Create the subscription at its provider; returns the customer's authorization action.

        Idempotent by ``subscription_id`` like orders. A customer field the provider needs for every period
        is checked first (:meth:`StartSubscription.check_new`): missing, nothing is started. ``test_clock``:
        an engine-billed subscription lives on that test clock's time (:mod:`billing.clocks`).
        """
        request.check_new()
        await self._redeem_for_subscription(request)
        workflow_id = subscription_workflow_id(request.subscription_id)
        clock_time = await self.attach_to_clock(test_clock, request, workflow_id) if test_clock else None

        def operation() -> WithStartWorkflowOperation[Any, Any]:
            return WithStartWorkflowOperation(
                SubscriptionWorkflow.run,
                SubscriptionInput(request=request, test_clock=test_clock, clock_time=clock_time),
                id=workflow_id,
                task_queue=self.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                static_summary=request.summary,
                memo=features_memo(),
                static_details=f"Customer `{request.customer.customer_id}` · {request.mode.value.replace('_', '-')}",
                search_attributes=sa.at_start(
                    status=SubscriptionStatus.INCOMPLETE.value,
                    provider=request.provider,
                    customer_id=request.customer.customer_id,
                    amount=request.plan.amount,
                ),
            )

        submit = SubmitSubscription(subscription_id=request.subscription_id, fingerprint=request.fingerprint())
        try:
            return await admitted(
                lambda: self.temporal.execute_update_with_start_workflow(
                    SubscriptionWorkflow.submit, submit, start_workflow_operation=operation()
                )
            )
        except WorkflowUpdateFailedError as exc:
            _raise_from_update(exc, request.subscription_id)
        except WorkflowAlreadyStartedError:
            return await self.get_subscription(request.subscription_id)

    async def get_subscription(self, subscription_id: str) -> Subscription:
        subscription: Subscription = await self._read(
            subscription_workflow_id(subscription_id),
            SubscriptionWorkflow.status,
            f"subscription {subscription_id}",
            "subscription_id",
        )
        return subscription

    async def list_invoices(self, subscription_id: str) -> list[Invoice]:
        """Every invoice of a subscription, oldest first (the workflow's ``invoices`` query)."""
        handle = self.temporal.get_workflow_handle(subscription_workflow_id(subscription_id))
        try:
            await self._await_quiet(handle.id, f"subscription {subscription_id}")
            return await handle.query(SubscriptionWorkflow.invoices)
        except RPCError as exc:
            if exc.status is RPCStatusCode.NOT_FOUND:
                raise errors.NotFoundError(f"no subscription {subscription_id}", field="subscription_id") from exc
            raise
        except WorkflowQueryFailedError as exc:
            raise errors.BillingError(f"subscription {subscription_id}: {exc}") from exc

    async def list_credit_notes(self, subscription_id: str, *, invoice: str | None = None) -> list[CreditNote]:
        """The credit notes of a subscription's invoices, oldest first (the workflow's ``credit_notes``
        query); with ``invoice`` (its number or invoice id), only that invoice's."""
        handle = self.temporal.get_workflow_handle(subscription_workflow_id(subscription_id))
        try:
            await self._await_quiet(handle.id, f"subscription {subscription_id}")
            notes = await handle.query(SubscriptionWorkflow.credit_notes)
        except RPCError as exc:
            if exc.status is RPCStatusCode.NOT_FOUND:
                raise errors.NotFoundError(f"no subscription {subscription_id}", field="subscription_id") from exc
            raise
        except WorkflowQueryFailedError as exc:
            raise errors.BillingError(f"subscription {subscription_id}: {exc}") from exc
        return [n for n in notes if invoice is None or invoice in (n.invoice_number, n.invoice_id)]

    async def get_invoice(self, invoice: str, *, subscription_id: str | None = None) -> Invoice:
        """One invoice, by its invoice id (``SUB-7-p2``, ``SUB-7-c1``: the subscription is read from it) or
        by its number (``INV-000042``) together with ``subscription_id``."""
        subscription_id = subscription_id or subscription_of_invoice(invoice)
        if subscription_id is None:
            raise errors.InputError(
                f"{invoice!r} is not an invoice id (SUB-p1, SUB-c1); give its subscription to find it by number",
                field="subscription_id",
            )
        for found in await self.list_invoices(subscription_id):
            if invoice in (found.number, found.invoice_id):
                return found
        raise errors.NotFoundError(f"no invoice {invoice} on subscription {subscription_id}", field="invoice")

    async def cancel_subscription(
        self, subscription_id: str, *, at_period_end: bool = False, reason: str | None = None
    ) -> Subscription:
        request = CancelSubscriptionRequest(at_period_end=at_period_end, reason=reason)
        return await self._subscription_update(subscription_id, SubscriptionWorkflow.cancel, request)

    async def pause_subscription(self, subscription_id: str, reason: str | None = None) -> Subscription:
        return await self._subscription_update(
            subscription_id, SubscriptionWorkflow.pause, PauseSubscriptionRequest(reason=reason)
        )

    async def resume_subscription(self, subscription_id: str, reason: str | None = None) -> Subscription:
        return await self._subscription_update(
            subscription_id, SubscriptionWorkflow.resume, ResumeSubscriptionRequest(reason=reason)
        )

    async def change_plan(
        self, subscription_id: str, plan: SubscriptionPlan, *, at_period_end: bool = False
    ) -> Subscription:
        request = ChangePlanRequest(plan=plan, at_period_end=at_period_end)
        return await self._subscription_update(subscription_id, SubscriptionWorkflow.change_plan, request)

    async def preview_change(self, subscription_id: str, plan: SubscriptionPlan) -> ChangePreview:
        """What changing plan now would credit and charge, and the invoice it would create (``invoice``)."""
        return await self._subscription_update(subscription_id, SubscriptionWorkflow.preview_change, plan)

    async def management_link(self, subscription_id: str) -> ManagementLink:
        return await self._subscription_update(
            subscription_id, SubscriptionWorkflow.management_link, ManagementLinkRequest()
        )

    async def wait_for_subscription(
        self,
        subscription_id: str,
        done: Callable[[Subscription], bool],
        *,
        timeout: timedelta = timedelta(seconds=30),
        poll_interval: timedelta = timedelta(milliseconds=200),
    ) -> Subscription:
        """Poll until ``done(subscription)``; TimeoutError otherwise."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout.total_seconds()
        while True:
            subscription = await self.get_subscription(subscription_id)
            if done(subscription):
                return subscription
            if loop.time() >= deadline:
                raise TimeoutError(f"subscription {subscription_id} is {subscription.status}")
            await asyncio.sleep(poll_interval.total_seconds())

    async def _subscription_update(
        self, subscription_id: str, update: UpdateMethodMultiParam[[Any, A], R], argument: A
    ) -> R:
        handle = self.temporal.get_workflow_handle(subscription_workflow_id(subscription_id))
        try:
            return await admitted(lambda: handle.execute_update(update, argument))
        except WorkflowUpdateFailedError as exc:
            _raise_from_update(exc, subscription_id)
        except RPCError as exc:
            if exc.status is RPCStatusCode.NOT_FOUND:
                raise errors.NotFoundError(f"no open subscription {subscription_id}", field="subscription_id") from exc
            raise

    # -- customer credit balance ----------------------------------------------------------------------

    async def credit_balance(
        self, customer_id: str, amount: Money, *, reason: str, reference: str, merchant: str = DEFAULT_MERCHANT
    ) -> LedgerEntry:
        """Add ``amount`` to the customer's balance. Idempotent by ``reference``: the same reference again
        returns the first entry and moves nothing; with another amount it is a ConflictError."""
        return await self._balance_update(
            customer_id, merchant, CustomerBalanceWorkflow.credit, amount, reason, reference
        )

    async def debit_balance(
        self, customer_id: str, amount: Money, *, reason: str, reference: str, merchant: str = DEFAULT_MERCHANT
    ) -> LedgerEntry:
        """Take exactly ``amount``; InvalidStateError (field ``amount``) when the balance is smaller."""
        return await self._balance_update(
            customer_id, merchant, CustomerBalanceWorkflow.debit, amount, reason, reference
        )

    async def apply_balance(
        self, customer_id: str, amount: Money, *, reason: str, reference: str, merchant: str = DEFAULT_MERCHANT
    ) -> LedgerEntry:
        """Take what the balance holds, at most ``amount``; the entry says how much (possibly nothing)."""
        return await self._balance_update(
            customer_id, merchant, CustomerBalanceWorkflow.apply_up_to, amount, reason, reference
        )

    async def get_balance(
        self, customer_id: str, *, currency: str | None = None, merchant: str = DEFAULT_MERCHANT
    ) -> CustomerBalance:
        """The customer's balance in each currency (or in ``currency``) and the latest entries, newest first.
        A customer that never had a movement has a zero balance."""
        workflow_id = balance_workflow_id(merchant, customer_id)
        currency = normalize_currency(currency) if currency is not None else None
        handle = self.temporal.get_workflow_handle(workflow_id)
        try:
            await self._await_quiet(workflow_id, f"the balance of {customer_id}")
            return await handle.query(CustomerBalanceWorkflow.balance, currency)
        except RPCError as exc:
            if exc.status is RPCStatusCode.NOT_FOUND:
                zero = [Money.zero(currency)] if currency else []
                return CustomerBalance(merchant=merchant, customer_id=customer_id, balances=zero, recent=[], entries=0)
            raise
        except WorkflowQueryFailedError as exc:
            raise errors.BillingError(f"the balance of {customer_id}: {exc}") from exc

    async def _balance_update(
        self,
        customer_id: str,
        merchant: str,
        update: UpdateMethodMultiParam[[Any, BalanceChange], LedgerEntry],
        amount: Money,
        reason: str,
        reference: str,
    ) -> LedgerEntry:
        workflow_id = balance_workflow_id(merchant, customer_id)
        try:
            change = BalanceChange(amount=amount, reason=reason, reference=reference)
        except ValidationError as exc:
            raise input_error_from_validation(exc) from exc
        change.check()

        def operation() -> WithStartWorkflowOperation[Any, Any]:
            return WithStartWorkflowOperation(
                CustomerBalanceWorkflow.run,
                BalanceState(merchant=merchant, customer_id=customer_id),
                id=workflow_id,
                task_queue=ledger_task_queue(self.task_queue),
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                static_summary=f"Credit balance of customer `{customer_id}`",
            )

        try:
            return await admitted(
                lambda: self.temporal.execute_update_with_start_workflow(
                    update, change, start_workflow_operation=operation()
                )
            )
        except WorkflowUpdateFailedError as exc:
            _raise_from_update(exc, f"the balance of {customer_id}")

    # -- helpers --------------------------------------------------------------------------------------

    def _refused(self, exc: WorkflowUpdateFailedError, subject: str) -> NoReturn:
        _raise_from_update(exc, subject)

    def _handle(self, order_id: str) -> WorkflowHandle[Any, Any]:
        return self.temporal.get_workflow_handle(order_workflow_id(order_id))

    async def _update(self, order_id: str, update: UpdateMethodMultiParam[[Any, A], R], argument: A) -> R:
        try:
            return await admitted(lambda: self._handle(order_id).execute_update(update, argument))
        except WorkflowUpdateFailedError as exc:
            _raise_from_update(exc, order_id)
        except RPCError as exc:
            if exc.status is RPCStatusCode.NOT_FOUND:
                raise errors.NotFoundError(f"no open order {order_id}", field="order_id") from exc
            raise
