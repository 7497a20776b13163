"""What an order workflow does: the whole of :class:`~workflows.order.OrderWorkflow` behind its handlers.

``OrderWorkflow`` (``workflows/order.py``) declares the workflow: its name, run method, signals,
updates and query, each delegating to one :class:`OrderFlow` created per run. Everything else lives here
and in the parts this class joins: ``order_run`` (the state and what every part shares: provider calls,
publishing, telling the issuer), ``order_inquiry`` (inquiries, the create's re-send, closing at the
provider), ``order_capture`` (capture and void of an authorization) and ``order_refunds`` (the refund
window, refunds, late payments). This module holds the main line and the messages: signals, updates with
their validators, and the query.
A worker imports these modules once and every run shares them (``worker.workflow_runner``); the tests run
them in the SDK's sandbox, which refuses any clock, randomness or I/O it reaches. They are workflow code:
they run on the workflow's event loop, read time through ``clock_now()``, and keep no module-level state
(every run shares the modules); provider-agnostic, they talk to
activities in the engine's normalized vocabulary and let :class:`billing.orders.Order` decide what
every statement means.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

from activities.payments import (
    CreatePaymentCall,
    PaymentActivities,
)
from billing import idempotency
from billing.errors import ConflictError, InconclusiveCallError, InputError, InvalidAmountError, InvalidStateError
from billing.gateway import (
    PaymentEvent,
    RefundEvent,
)
from billing.hints import HINT_WINDOW, HintState
from billing.orders import (
    FINAL_STATUSES,
    CancelRequest,
    CaptureRequest,
    ClosingReason,
    CreateOrder,
    Order,
    OrderStatus,
    RedirectHint,
    Refund,
    RefundRequest,
    ResolveRequest,
    SubmitOrder,
)
from workflows.common import (
    MONEY_RETRY,
    clock_now,
    describe,
    is_not_done,
    rejected,
)
from workflows.order_capture import OrderCapture
from workflows.order_refunds import OrderRefunds

#: What ``workflows.order`` declares its handlers with: it imports this one module (once per worker; once per
#: run in the tests' checking sandbox).
__all__ = [
    "CancelRequest",
    "CaptureRequest",
    "CreateOrder",
    "HintState",
    "Order",
    "OrderFlow",
    "PaymentEvent",
    "RedirectHint",
    "Refund",
    "RefundEvent",
    "RefundRequest",
    "ResolveRequest",
    "SubmitOrder",
]

#: Hints are coalesced and rationed from this change on (see billing.hints); runs that started before it
#: replay as they ran, acting on every hint.
COALESCE_HINTS_PATCH = "coalesce-hints"
#: A create of a lapsing checkout whose answer was lost fails once any page it made has lapsed
#: (_unanswered_checkout_lapses).
UNANSWERED_CHECKOUT_LAPSES = "unanswered-checkout-lapses"
#: Added to a checkout's documented lifetime before "no such payment" counts as final: clocks differ.
CHECKOUT_LAPSE_MARGIN = timedelta(minutes=1)


class OrderFlow(OrderCapture, OrderRefunds):
    """Everything an order workflow run holds and does; see the module docstring."""

    # -- main line ----------------------------------------------------------------------------------

    async def run(self) -> Order:
        self._publish()
        await self._create_at_provider()
        await self._notify_issuer()
        await self._settle_payment()
        await self._notify_issuer()
        await self._after_final()
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self.events.flushed()
        return self.order

    async def _create_at_provider(self) -> None:
        call = CreatePaymentCall(
            provider=self.request.provider,
            order_id=self.request.order_id,
            request=self.request.payment_request(self.order),
        )
        self.create_call = call
        try:
            outcome = await self._call(
                PaymentActivities.create_payment,
                call,
                retry=MONEY_RETRY,
                summary=f"create payment at {self.request.provider}",
            )
            self.events.learned(outcome.merchant_events)
            self.provider_closes, self.payable_until = outcome.provider_closes, outcome.payable_until
            self._apply(outcome, "provider.create")
        except InconclusiveCallError as exc:
            # Seed 003: never a new payment. Inquire with the original request id, keep listening.
            self.create_unanswered = f"{exc} at {clock_now().isoformat()}"
            self.order.mark_unknown(str(exc), clock_now())
            self._unanswered_checkout_lapses()
        except ActivityError as exc:
            if not is_not_done(exc) and workflow.patched("create-fails-only-when-not-done"):
                # Not a statement that nothing happened: reconcile by inquiry like any unknown outcome.
                self.create_unanswered = f"{describe(exc)} at {clock_now().isoformat()}"
                self.order.mark_unknown(describe(exc), clock_now())
                self._unanswered_checkout_lapses()
            else:
                # Nothing was sent (configuration or request error) on any attempt, or the request was
                # refused: a definite failure of this order.
                self.order.move(OrderStatus.FAILED, clock_now(), "provider.create", describe(exc))
        finally:
            self.created = True
            self._publish()

    def _unanswered_checkout_lapses(self) -> None:
        """The create's answer was lost. Where the checkout lapses (a hosted page, payable for a documented
        time after its create, with no transaction until paid), any page the call made was never shown to
        anyone and lapses: the order waits that long (the page cannot be closed), and "no such payment"
        after it concludes FAILED (see _inquiry_not_found) rather than going to review. (Patched: orders
        that started before this rule replay as they ran.)"""
        lifetime = self.provider.checkout_lifetime(self.request.payment_method or "")
        if lifetime is None or not workflow.patched(UNANSWERED_CHECKOUT_LAPSES):
            return
        self.unanswered_lapse = clock_now() + lifetime + CHECKOUT_LAPSE_MARGIN
        self.provider_closes = False
        self.payable_until = self.unanswered_lapse

    async def _settle_payment(self) -> None:
        """Wait for a final statement, inquiring on a backoff schedule, until the deadline."""
        while self.order.status not in FINAL_STATUSES:
            status = self.order.status
            if status is OrderStatus.NEEDS_REVIEW:
                # Only an operator (resolve) or a verified provider statement moves it on.
                await workflow.wait_condition(lambda: self.order.status is not OrderStatus.NEEDS_REVIEW)
                continue
            if status is OrderStatus.AUTHORIZED:
                await self._await_capture()
                continue
            now = clock_now()
            if now >= self.order.deadline and self.order.closing is None:
                if not self.deadline_inquired and workflow.patched("inquire-before-deadline-cancel"):
                    # Ask before cancelling: a payment made in time whose notification was lost is found
                    # here and is simply PAID. Cancelling first would have the provider refuse ("already
                    # paid") and an on-time payment look late. (Patched: older orders replay as they ran.)
                    self.deadline_inquired = True
                    await self._inquire()
                    continue
                await self._close_at_provider(ClosingReason.DEADLINE)
                continue
            if self.order.closing is not None:
                # Closing was requested and not yet confirmed: confirm by inquiry on the schedule.
                await self._wait_then_inquire(self.policy.inquiry_wait(self.inquiries))
                if self.inquiries >= self.policy.unknown_inquiry_limit and not self._final():
                    self.order.flag_for_review(self._unresolved_reason(), clock_now())
                    self._publish()
                continue
            wait = min(self.policy.inquiry_wait(self.inquiries), self.order.deadline - now)
            await self._wait_then_inquire(wait)

    # -- messages ---------------------------------------------------------------------------------------

    def payment_event(self, event: PaymentEvent) -> None:
        """A verified provider notification about this order's payment."""
        if self._duplicate(event.event_key):
            return
        if event.outcome.idempotency_key not in (None, self.order.payment_key):
            self.order.note(clock_now(), "notification", "ignored: not this order's payment")
            return
        self._apply(event.outcome, "notification")

    def refund_event(self, event: RefundEvent) -> None:
        """A verified provider notification about one of this order's refunds."""
        if self._duplicate(event.event_key):
            return
        refund = next(
            (
                r
                for r in self.order.refunds
                if r.request_key == event.outcome.idempotency_key
                or (r.provider_reference and r.provider_reference == event.outcome.provider_reference)
            ),
            None,
        )
        if refund is None:
            self.order.note(clock_now(), "notification", "refund notification for an unknown refund")
            return
        self.order.apply_refund(refund, event.outcome, source="notification", at=clock_now())
        self._publish()

    def _coalesces_hints(self) -> bool:
        """Runs started with HINTS_IN_RUN_FEATURE coalesce without a patch marker; older runs ask the patch
        (which records a marker the first time, from the handler: as they ran)."""
        return self.hints_in_run or workflow.patched(COALESCE_HINTS_PATCH)

    def redirect_hint(self, hint: RedirectHint) -> None:
        """The customer came back from the provider's page: inquire now, with what the browser brought.

        Unsigned and free to send, so coalesced and budgeted (billing.hints): a flood costs no inquiries."""
        if not self._coalesces_hints():
            self.result_token = hint.result_token or self.result_token
            self.check_requested = True
            return
        state = self._judge_hint(hint, window=True)
        self.result_token = hint.result_token or self.result_token
        if state.acts:
            self.hints.acted(clock_now())
            self.check_requested = True

    def check_now(self) -> None:
        """A hint (unsigned callback, operator) that the provider may have news: inquire now."""
        if not self._coalesces_hints():
            self.check_requested = True
            return
        if self._judge_hint(None, window=True, budgeted=False).acts:
            self.check_requested = True

    def hint_state(self, hint: RedirectHint) -> HintState:
        """What a redirect hint would do now; the HTTP service asks before it signals (a query adds no
        history). Without the time window: a query reads the clock of the workflow's last activation."""
        return self._judge_hint(hint, window=False)

    def _judge_hint(self, hint: RedirectHint | None, *, window: bool, budgeted: bool = True) -> HintState:
        status = self.order.status
        useful = (status not in FINAL_STATUSES and status is not OrderStatus.NEEDS_REVIEW) or bool(
            self.order.open_refunds()
        )
        token = hint.result_token if hint is not None else None
        return self.hints.judge(
            clock_now(),
            useful=useful,
            pending=self.check_requested,
            new_token=token is not None and token != self.result_token,
            budgeted=budgeted,
            window=HINT_WINDOW if window else None,
        )

    async def submit(self, request: SubmitOrder) -> Order:
        """Creation (update-with-start): returns once the provider call concluded, with the action."""
        await workflow.wait_condition(lambda: self.created)
        return self.order

    def validate_submit(self, request: SubmitOrder) -> None:
        # The start carries the whole request; the update only its fingerprint, to spot a different
        # request reusing this order id.
        if request.fingerprint != self.fingerprint:
            raise rejected(
                ConflictError(f"order {request.order_id} exists with different parameters", field="order_id")
            )

    async def capture(self, request: CaptureRequest) -> Order:
        try:
            amount = self.order.check_capture(request)
        except InputError as exc:
            raise rejected(exc) from exc
        if self.capture_in_doubt and self._bounded():
            # The merchant retries a capture whose answer was lost: the same request, re-sent.
            if amount != self.order.capture_requested:
                raise rejected(
                    InvalidAmountError(f"a capture of {self.order.capture_requested} is in doubt", field="amount")
                )
            self.order.note(clock_now(), "capture_requested", f"{amount} (retry)")
            await self._send_capture(resend=True)
            return self.order
        self.order.captures_requested += 1
        self.order.capture_requested = amount
        self.order.note(clock_now(), "capture_requested", str(amount))
        await self._send_capture(resend=False)
        return self.order

    def validate_capture(self, request: CaptureRequest) -> None:
        try:
            amount = self.order.check_capture(request)
        except InputError as exc:
            raise rejected(exc) from exc
        if self.order.closing is not None:
            raise rejected(InvalidStateError("the authorization is being voided"))
        if self.capture_in_doubt and self.bounded_waits and amount == self.order.capture_requested:
            return  # a retry of the capture whose answer was lost
        if self.order.capture_requested is not None:
            raise rejected(InvalidStateError(f"a capture of {self.order.capture_requested} is already in flight"))
        window_end = self._capture_window_end()
        if clock_now() >= window_end:
            # Decided by the time the capture arrives, not by whether the release already began: a capture
            # that comes after the window is refused even when no worker ran at its end (the void follows).
            # Validators do not run in replay: histories that accepted such a capture replay unchanged.
            raise rejected(
                InvalidStateError(f"the capture window ended at {window_end.isoformat()}: the hold is being released")
            )

    async def cancel(self, request: CancelRequest) -> Order:
        try:
            self.order.check_cancel()
        except InputError as exc:
            raise rejected(exc) from exc
        self._refuse_cancel_without_close()
        if request.reason:
            self.order.note(clock_now(), "cancel_requested", request.reason)
        if self.order.closing is None:
            if self.order.status is OrderStatus.AUTHORIZED and self._bounded():
                await self._void_authorization(ClosingReason.CANCEL)
            else:
                await self._close_at_provider(ClosingReason.CANCEL)
        return self.order

    def validate_cancel(self, request: CancelRequest) -> None:
        try:
            self.order.check_cancel()
        except InputError as exc:
            raise rejected(exc) from exc
        if self.order.capture_requested is not None and self.order.status is OrderStatus.AUTHORIZED:
            raise rejected(InvalidStateError("a capture is in flight; its outcome decides the order"))
        self._refuse_cancel_without_close()

    async def refund(self, request: RefundRequest) -> Refund:
        # Re-checked here, before any await: validators of concurrent updates may all have run before
        # this handler, and only the handler reserves the amount.
        try:
            existing = self.order.check_refund(request)
        except InputError as exc:
            raise rejected(exc) from exc
        if existing is not None:
            return existing
        refund = Refund(
            refund_id=request.refund_id,
            amount=request.amount,
            reason=request.reason,
            request_key=idempotency.refund_key(self.order.order_id, request.refund_id),
            requested_at=clock_now(),
        )
        self.order.add_refund(refund, clock_now())
        await self._send_refund(refund)
        return refund

    def validate_refund(self, request: RefundRequest) -> None:
        try:
            self.order.check_refund(request)
        except InputError as exc:
            raise rejected(exc) from exc

    def resolve(self, request: ResolveRequest) -> Order:
        """An operator settles an order in NEEDS_REVIEW; who and why are recorded."""
        now = clock_now()
        review = self.order.review
        if review is not None:
            review.resolved_by = request.operator
            review.resolution_reason = request.reason
            review.resolved_at = now
        if request.status is OrderStatus.PAID and self.order.captured_amount is None:
            self.order.captured_amount = self.order.capture_requested or self.order.amount
        self.order.move(request.status, now, "resolved", f"by {request.operator}: {request.reason}")
        self._publish()
        return self.order

    def validate_resolve(self, request: ResolveRequest) -> None:
        try:
            self.order.check_resolve(request)
        except InputError as exc:
            raise rejected(exc) from exc

    def status(self) -> Order:
        return self.order
