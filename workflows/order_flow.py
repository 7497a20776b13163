"""What an order workflow does: the whole of :class:`~workflows.order.OrderWorkflow` behind its handlers.

``OrderWorkflow`` (``workflows/order.py``) declares the workflow: its name, run method, signals,
updates and query, each delegating to one :class:`OrderFlow` created per run. Everything else lives here.
The worker passes this module through the workflow sandbox (``worker.SANDBOX_PASSTHROUGH_MODULES``), so
it is imported once per worker process, while the sandbox re-executes only the small declaring module
for every workflow run. The code is workflow code all the same: it runs on the workflow's event loop,
reads time through ``workflow.now()``, and keeps no module-level state; provider-agnostic, it talks to
activities in the engine's normalized vocabulary and lets :class:`billing.orders.Order` decide what
every statement means.
"""

from __future__ import annotations

import asyncio
import functools
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from activities.payments import (
        CancelPaymentCall,
        CapturePaymentCall,
        CreatePaymentCall,
        PaymentActivities,
        PaymentCall,
        RefundCall,
        RefundInquiryCall,
    )
    from billing import events, idempotency, metrics
    from billing import search_attributes as sa
    from billing.errors import ConflictError, InputError, InvalidStateError
    from billing.gateway import (
        CancelPayment,
        CapturePayment,
        CreatePayment,
        CreateRefund,
        PaymentEvent,
        PaymentOutcome,
        PaymentRef,
        PaymentStatus,
        RefundEvent,
        RefundOutcome,
        RefundRef,
        RefundStatus,
    )
    from billing.orders import (
        CLOSED_STATUSES,
        FINAL_REFUND_STATES,
        FINAL_STATUSES,
        OPEN_STATUSES,
        REFUND_RESENDS,
        SINGLE_SHOT_REFUND_PROVIDERS,
        CancelRequest,
        CaptureRequest,
        ClosingReason,
        CreateOrder,
        LatePaymentPolicy,
        Order,
        OrderStatus,
        OrderUpdate,
        RedirectHint,
        Refund,
        RefundRequest,
        RefundState,
        ResolveRequest,
        SubmitOrder,
    )
    from workflows.common import (
        INQUIRY_RETRY,
        MONEY_RETRY,
        SINGLE_SHOT,
        OutcomeUnknown,
        call_provider,
        describe,
        is_not_done,
        is_not_found,
        rejected,
    )
    from workflows.events import EventSender

#: What ``workflows.order`` declares its handlers with: it imports this one module (one import per run).
__all__ = [
    "CancelRequest",
    "CaptureRequest",
    "CreateOrder",
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

LATE_PAYMENT_REFUND_ID = "late-payment-refund"


class OrderFlow:
    """Everything an order workflow run holds and does; see the module docstring."""

    def __init__(self, request: CreateOrder) -> None:
        now = workflow.now()
        self.request = request
        self.fingerprint = request.fingerprint()
        self.policy = request.policy
        self.order = Order(
            order_id=request.order_id,
            provider=request.provider,
            amount=request.amount,
            capture_mode=request.capture_mode,
            customer_id=request.customer.customer_id,
            description=request.description,
            success_url=request.success_url,
            failure_url=request.failure_url or request.cancel_url,
            payment_key=idempotency.payment_key(request.order_id),
            created_at=now,
            deadline=now + self.policy.payment_window,
        )
        self.order.note(now, "created", request.summary)
        self.created = False
        self.seen_events: set[str] = set()
        self.check_requested = False
        self.result_token: str | None = None
        self.inquiries = 0
        # From the create answer: whether the provider can close this payment (None: assumed it can) and
        # until when it may still take the money (see _await_provider_window).
        self.provider_closes: bool | None = None
        self.payable_until: datetime | None = None
        # Provider calls that move money for this order are made one at a time.
        self.money_lock = asyncio.Lock()
        self._published: OrderStatus | None = None
        log = events.EventLog(kind="order", object_id=request.order_id)
        log.start("status", self.order.status.value)
        self.events = EventSender(log, lambda kind, detail: self.order.note(workflow.now(), kind, detail))

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
            request=CreatePayment(
                idempotency_key=self.order.payment_key,
                merchant_order_id=self.request.order_id,
                amount=self.request.amount,
                description=self.request.description or f"Order {self.request.order_id}",
                customer=self.request.customer,
                capture_mode=self.request.capture_mode,
                payment_method=self.request.payment_method,
                success_url=self.request.success_url,
                failure_url=self.request.failure_url,
                cancel_url=self.request.cancel_url,
                expires_at=self.order.deadline,
                requested_at=self.order.created_at,
            ),
        )
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
        except OutcomeUnknown as exc:
            # Seed 003: never a new payment. Inquire with the original request id, keep listening.
            self.order.mark_unknown(str(exc), workflow.now())
        except ActivityError as exc:
            if not is_not_done(exc) and workflow.patched("create-fails-only-when-not-done"):
                # Not a statement that nothing happened: reconcile by inquiry like any unknown outcome.
                self.order.mark_unknown(describe(exc), workflow.now())
            else:
                # Nothing was sent (configuration or request error) on any attempt, or the request was
                # refused: a definite failure of this order.
                self.order.move(OrderStatus.FAILED, workflow.now(), "provider.create", describe(exc))
        finally:
            self.created = True
            self._publish()

    async def _notify_issuer(self) -> None:
        """Tell the workflow that issued this order (a subscription's invoice) where it stands."""
        target = self.request.notify_workflow_id
        if target is None:
            return
        update = OrderUpdate(
            order_id=self.order.order_id,
            status=self.order.status,
            customer_action=self.order.customer_action,
            amount=self.order.amount,
            captured_amount=self.order.captured_amount,
            failure=self.order.failure,
        )
        try:
            await workflow.get_external_workflow_handle(target).signal("order_update", update)
        except FailureError as exc:
            self.order.note(workflow.now(), "issuer", f"could not tell {target}: {exc}")

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
            now = workflow.now()
            if now >= self.order.deadline and self.order.closing is None:
                await self._close_at_provider(ClosingReason.DEADLINE)
                continue
            if self.order.closing is not None:
                # Closing was requested and not yet confirmed: confirm by inquiry on the schedule.
                await self._wait_then_inquire(self.policy.inquiry_wait(self.inquiries))
                if self.inquiries >= self.policy.unknown_inquiry_limit and not self._final():
                    self.order.flag_for_review(f"no final statement after {self.inquiries} inquiries", workflow.now())
                    self._publish()
                continue
            wait = min(self.policy.inquiry_wait(self.inquiries), self.order.deadline - now)
            await self._wait_then_inquire(wait)

    async def _wait_then_inquire(self, wait: timedelta) -> None:
        """Sleep until ``wait`` passes, a statement changes the status, or a check is requested."""
        status = self.order.status
        try:
            await workflow.wait_condition(
                lambda: self.order.status is not status or self.check_requested,
                timeout=max(wait, timedelta(seconds=1)),
                timeout_summary="await provider notification",
            )
        except TimeoutError:
            pass
        if self.order.status is not status and not self.check_requested:
            return
        self.check_requested = False
        if workflow.now() >= self.order.deadline and self.order.closing is None:
            return  # the deadline handling inquires itself, after closing
        await self._inquire()

    async def _inquire(self) -> None:
        self.inquiries += 1
        try:
            outcome = await self._call(
                PaymentActivities.inquire_payment,
                PaymentCall(provider=self.request.provider, payment=self._payment_ref()),
                retry=INQUIRY_RETRY,
                summary=f"inquire payment #{self.inquiries}",
            )
        except (OutcomeUnknown, ActivityError) as exc:
            self.order.note(workflow.now(), "inquiry", f"no answer: {describe(exc)}")
            return
        self._apply(outcome, "inquiry")

    async def _close_at_provider(self, reason: ClosingReason) -> None:
        """Cancel at the provider, then confirm by inquiry: a success that raced the cancel is money."""
        if self.provider_closes is False and workflow.patched("close-only-where-the-provider-can"):
            # KESS (seed 004) documents no close: no cancel is sent; the payment window is waited out.
            await self._await_provider_window(reason)
            return
        self.order.closing = reason
        self.order.note(workflow.now(), "closing", reason.value)
        async with self.money_lock:
            try:
                outcome = await self._call(
                    PaymentActivities.cancel_payment,
                    CancelPaymentCall(
                        provider=self.request.provider,
                        request=CancelPayment(payment=self._payment_ref(), requested_at=workflow.now()),
                    ),
                    retry=MONEY_RETRY,
                    summary=f"cancel payment ({reason.value})",
                )
                if outcome.failure is not None:
                    self.order.note(
                        workflow.now(), "provider.cancel", f"{outcome.failure.code} {outcome.failure.message}"
                    )
                if outcome.status in (PaymentStatus.CLOSED, PaymentStatus.SUCCEEDED) and workflow.patched(
                    "apply-cancel-statement"
                ):
                    # A verified statement: closed (voided, reversed) or already paid (money received). Some
                    # providers' inquiries still show a voided hold as approved, so the answer counts itself.
                    # (Patched: orders that started before this rule replay as they ran.)
                    self._apply(outcome, "provider.cancel")
                else:
                    self.order.note(workflow.now(), "provider.cancel", outcome.provider_status or outcome.status.value)
            except (OutcomeUnknown, ActivityError) as exc:
                self.order.note(workflow.now(), "provider.cancel", f"no answer: {describe(exc)}")
        # Confirm by inquiry rather than trusting the cancel response alone: a success that raced it is money.
        await self._inquire()
        self._publish()

    async def _await_provider_window(self, reason: ClosingReason) -> None:
        """The provider cannot close the payment: the customer may still pay until its window ends there.

        Keep inquiring on the schedule until ``payable_until`` has passed, then inquire once more: the
        provider's statement (closed, revoked, expired) concludes the order. Still no final statement after
        that: the closing loop goes on inquiring, and review follows its limit, as after any close.
        """
        self.order.closing = reason
        until = self.payable_until or workflow.now()
        self.order.note(
            workflow.now(),
            "closing",
            f"{reason.value}: {self.request.provider} cannot close a payment; waiting until {until.isoformat()}",
        )
        self._publish()
        while not self._final() and workflow.now() < until:
            await self._wait_then_inquire(min(self.policy.inquiry_wait(self.inquiries), until - workflow.now()))
        # The window has passed at the provider: what it says now is final (or is reconciled as after a close).
        self.inquiries = 0
        if not self._final():
            await self._inquire()
        self._publish()

    def _refuse_cancel_without_close(self) -> None:
        """A merchant cancel of an order its provider cannot close is refused (see docs/architecture.md)."""
        if self.provider_closes is False:
            raise rejected(
                InvalidStateError(
                    f"{self.request.provider} cannot close a payment (no such call): the order concludes by itself "
                    "when its payment window has passed",
                    field="order_id",
                )
            )

    async def _await_capture(self) -> None:
        """AUTHORIZED: wait for the merchant's capture or cancel; void when the capture window ends."""
        window_end = (self.order.authorized_at or workflow.now()) + self.policy.capture_window
        while self.order.status is OrderStatus.AUTHORIZED:
            now = workflow.now()
            if now >= window_end and self.order.closing is None:
                await self._close_at_provider(ClosingReason.CAPTURE_WINDOW)
                return
            if self.order.capture_requested is not None or self.order.closing is not None:
                # A capture or void is in flight: confirm it on the inquiry schedule.
                await self._wait_then_inquire(self.policy.inquiry_wait(self.inquiries))
                continue
            try:
                await workflow.wait_condition(
                    lambda: (
                        self.order.status is not OrderStatus.AUTHORIZED
                        or self.order.capture_requested is not None
                        or self.order.closing is not None
                    ),
                    timeout=window_end - now,
                    timeout_summary="await capture",
                )
            except TimeoutError:
                pass

    async def _after_final(self) -> None:
        """Stay open for refunds (and to record late statements) until the refund window ends."""
        if self.order.late_payment and self.policy.late_payment is LatePaymentPolicy.REFUND:
            await self._refund_late_payment()
        closes_at = (self.order.closed_at or workflow.now()) + self.policy.refund_window
        while True:
            open_refunds = self.order.open_refunds()
            now = workflow.now()
            if not open_refunds and now >= closes_at:
                return
            if open_refunds:
                wait = self.policy.inquiry_wait(min(r.inquiries for r in open_refunds))
            else:
                wait = closes_at - now
            if await self._refunds_changed_within(wait, "await refund result" if open_refunds else "refund window"):
                continue
            for refund in self.order.open_refunds():
                await self._inquire_refund(refund)
                if refund.status in (RefundState.PENDING, RefundState.UNKNOWN) and (
                    refund.inquiries >= self.policy.unknown_inquiry_limit
                ):
                    self.order.refund_needs_review(
                        refund, f"no final statement after {refund.inquiries} inquiries", workflow.now()
                    )
                    self._publish()

    async def _refunds_changed_within(self, wait: timedelta, summary: str) -> bool:
        """Wait up to ``wait`` for a refund to be added or settled (or a check hint)."""
        before = (len(self.order.refunds), len(self.order.open_refunds()))
        try:
            await workflow.wait_condition(
                lambda: (len(self.order.refunds), len(self.order.open_refunds())) != before or self.check_requested,
                timeout=wait,
                timeout_summary=summary,
            )
        except TimeoutError:
            return False
        hinted, self.check_requested = self.check_requested, False
        return not hinted

    # -- provider calls for refunds -------------------------------------------------------------------

    async def _send_refund(self, refund: Refund) -> None:
        call = RefundCall(
            provider=self.request.provider,
            order_id=self.request.order_id,
            request=CreateRefund(
                idempotency_key=refund.request_key,
                payment=self._payment_ref(),
                amount=refund.amount,
                reason=refund.reason,
                requested_at=refund.requested_at,
            ),
        )
        async with self.money_lock:
            refund.sends += 1
            try:
                outcome = await self._call(
                    PaymentActivities.refund,
                    call,
                    retry=SINGLE_SHOT if self.request.provider in SINGLE_SHOT_REFUND_PROVIDERS else MONEY_RETRY,
                    summary=f"refund {refund.refund_id} {refund.amount}"
                    + (f" (re-sent, send {refund.sends})" if refund.sends > 1 else ""),
                )
            except OutcomeUnknown as exc:
                self._refund_call_unknown(refund, str(exc))
                return
            except ActivityError as exc:
                if refund.sends > 1:
                    # Nothing was sent this time, but the first call of this key ended without an answer:
                    # the refund is still unknown, never failed on this call's word.
                    self._refund_call_unknown(refund, f"re-send not sent: {describe(exc)}")
                    return
                outcome = RefundOutcome(status=RefundStatus.FAILED, provider_status=describe(exc))
        self.order.apply_refund(refund, outcome, source="provider.refund", at=workflow.now())
        self._publish()

    async def _inquire_refund(self, refund: Refund) -> None:
        refund.inquiries += 1
        try:
            outcome = await self._call(
                PaymentActivities.inquire_refund,
                RefundInquiryCall(
                    provider=self.request.provider,
                    refund=RefundRef(
                        idempotency_key=refund.request_key,
                        provider_reference=refund.provider_reference,
                        currency=refund.amount.currency,
                        payment_idempotency_key=self.order.payment_key,
                        amount=refund.amount,
                    ),
                ),
                retry=INQUIRY_RETRY,
                summary=f"inquire refund {refund.refund_id}",
            )
        except (OutcomeUnknown, ActivityError) as exc:
            if (
                isinstance(exc, ActivityError)
                and is_not_found(exc)
                and refund.status is RefundState.UNKNOWN
                and workflow.patched("refund-not-found-resend")
            ):
                await self._refund_not_found(refund, describe(exc))
                return
            self.order.note(workflow.now(), "refund_inquiry", f"{refund.refund_id}: no answer: {describe(exc)}")
            return
        self.order.apply_refund(refund, outcome, source="refund_inquiry", at=workflow.now())
        self._publish()

    def _refund_call_unknown(self, refund: Refund, reason: str) -> None:
        """The refund call did not conclude. A refund already settled (its notification overtook the call's
        answer) stays settled: refund states, and the merchant's refund events, never go backwards."""
        if refund.status in FINAL_REFUND_STATES and not workflow.patched("refund-final-stays-final"):
            # Histories from before the rule replay as they ran.
            refund.status = RefundState.UNKNOWN
            self.order.note(workflow.now(), "provider.refund", f"{refund.refund_id}: unknown: {reason}")
            return
        self.order.refund_unknown(refund, reason, source="provider.refund", at=workflow.now())

    async def _refund_not_found(self, refund: Refund, answer: str) -> None:
        """The provider does not know a refund whose call ended without an answer: that call did not land.

        Where the provider deduplicates refunds by our key (Waffo ``refundRequestId``, KESS ``out_refund_no``)
        the same request is sent again with the same key, a bounded number of times: it cannot refund twice.
        A provider that repeats money on a repeat (WaafiPay) is never re-sent to. Still unknown after that:
        an operator decides, told exactly why.
        """
        now, provider = workflow.now(), self.request.provider
        if provider in SINGLE_SHOT_REFUND_PROVIDERS:
            reason = (
                f"{provider} does not know the refund ({answer}) after a call without an answer; "
                "its refunds are not deduplicated, so it is not re-sent"
            )
        elif refund.sends > REFUND_RESENDS:
            reason = (
                f"{provider} does not know the refund ({answer}) after {refund.sends} sends with key "
                f"{refund.request_key}, none answered"
            )
        else:
            self.order.note(now, "refund_resend", f"{refund.refund_id}: not found at {provider} ({answer}); sent again")
            refund.inquiries = 0
            await self._send_refund(refund)
            return
        self.order.refund_needs_review(refund, reason, now)
        self._publish()

    async def _refund_late_payment(self) -> None:
        if self.order.refund(LATE_PAYMENT_REFUND_ID) is not None or not self.order.refundable.is_positive():
            return
        refund = Refund(
            refund_id=LATE_PAYMENT_REFUND_ID,
            amount=self.order.refundable,
            reason="payment arrived after the order was closed",
            request_key=idempotency.refund_key(self.order.order_id, LATE_PAYMENT_REFUND_ID),
            requested_at=workflow.now(),
            automatic=True,
        )
        self.order.add_refund(refund, workflow.now())
        await self._send_refund(refund)

    # -- messages ---------------------------------------------------------------------------------------

    def payment_event(self, event: PaymentEvent) -> None:
        """A verified provider notification about this order's payment."""
        if self._duplicate(event.event_key):
            return
        if event.outcome.idempotency_key not in (None, self.order.payment_key):
            self.order.note(workflow.now(), "notification", "ignored: not this order's payment")
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
            self.order.note(workflow.now(), "notification", "refund notification for an unknown refund")
            return
        self.order.apply_refund(refund, event.outcome, source="notification", at=workflow.now())
        self._publish()

    def redirect_hint(self, hint: RedirectHint) -> None:
        """The customer came back from the provider's page: inquire now, with what the browser brought."""
        self.result_token = hint.result_token or self.result_token
        self.check_requested = True

    def check_now(self) -> None:
        """A hint (unsigned callback, operator) that the provider may have news: inquire now."""
        self.check_requested = True

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
        self.order.captures_requested += 1
        self.order.capture_requested = amount
        key = idempotency.capture_key(self.order.order_id, self.order.captures_requested)
        self.order.note(workflow.now(), "capture_requested", str(amount))
        async with self.money_lock:
            try:
                outcome = await self._call(
                    PaymentActivities.capture_payment,
                    CapturePaymentCall(
                        provider=self.request.provider,
                        request=CapturePayment(
                            idempotency_key=key,
                            payment=self._payment_ref(),
                            amount=amount,
                            requested_at=workflow.now(),
                        ),
                    ),
                    retry=MONEY_RETRY,
                    summary=f"capture {amount}",
                )
            except (OutcomeUnknown, ActivityError) as exc:
                self.order.note(workflow.now(), "provider.capture", f"no answer: {describe(exc)}")
                self.check_requested = True
                return self.order
        if outcome.failure is not None and outcome.status is PaymentStatus.PENDING:
            self.order.capture_requested = None
            self.order.note(
                workflow.now(),
                "provider.capture",
                f"refused: {outcome.failure.code} {outcome.failure.message}",
            )
        else:
            self._apply(outcome, "provider.capture")
        return self.order

    def validate_capture(self, request: CaptureRequest) -> None:
        try:
            self.order.check_capture(request)
        except InputError as exc:
            raise rejected(exc) from exc
        if self.order.capture_requested is not None:
            raise ApplicationError("a capture is already in flight", type="InvalidStateError")

    async def cancel(self, request: CancelRequest) -> Order:
        try:
            self.order.check_cancel()
        except InputError as exc:
            raise rejected(exc) from exc
        self._refuse_cancel_without_close()
        if request.reason:
            self.order.note(workflow.now(), "cancel_requested", request.reason)
        if self.order.closing is None:
            await self._close_at_provider(ClosingReason.CANCEL)
        return self.order

    def validate_cancel(self, request: CancelRequest) -> None:
        try:
            self.order.check_cancel()
        except InputError as exc:
            raise rejected(exc) from exc
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
            requested_at=workflow.now(),
        )
        self.order.add_refund(refund, workflow.now())
        await self._send_refund(refund)
        return refund

    def validate_refund(self, request: RefundRequest) -> None:
        try:
            self.order.check_refund(request)
        except InputError as exc:
            raise rejected(exc) from exc

    def resolve(self, request: ResolveRequest) -> Order:
        """An operator settles an order in NEEDS_REVIEW; who and why are recorded."""
        now = workflow.now()
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

    # -- helpers ----------------------------------------------------------------------------------------

    def _payment_ref(self) -> PaymentRef:
        return PaymentRef(
            idempotency_key=self.order.payment_key,
            provider_reference=self.order.provider_reference,
            result_token=self.result_token,
        )

    def _final(self) -> bool:
        return self.order.status in FINAL_STATUSES

    def _duplicate(self, event_key: str) -> bool:
        if event_key in self.seen_events:
            self.order.note(workflow.now(), "notification", "duplicate ignored")
            return True
        self.seen_events.add(event_key)
        return False

    def _apply(self, outcome: PaymentOutcome, source: str) -> None:
        self.order.apply_payment(outcome, source=source, at=workflow.now())
        self._publish()

    async def _call(self, activity: Any, call: Any, *, retry: RetryPolicy, summary: str) -> Any:
        return await call_provider(
            activity, call, timeout=self.policy.provider_call_timeout, retry=retry, summary=summary
        )

    def _publish(self) -> None:
        """Search attributes and current details for the Temporal UI. No personal data."""
        order = self.order
        if self._published is None:
            # Set at start by the client (see BillingClient.create_order)? Then only changes follow.
            started_with = workflow.info().typed_search_attributes.get(sa.BILLING_STATUS)
            if started_with is not None:
                self._published = OrderStatus(started_with)
        if self._published is None:
            workflow.upsert_search_attributes(
                [
                    sa.BILLING_STATUS.value_set(order.status.value),
                    sa.PROVIDER.value_set(order.provider),
                    sa.CUSTOMER_ID.value_set(order.customer_id),
                    sa.AMOUNT_MINOR.value_set(order.amount.amount_minor),
                    sa.CURRENCY.value_set(order.amount.currency),
                ]
            )
        elif self._published is not order.status:
            workflow.upsert_search_attributes([sa.BILLING_STATUS.value_set(order.status.value)])
        metrics.order_status_changed(order.provider, self._published, order.status)
        self._published = order.status
        lines = [
            f"**{order.status.value}** · {order.amount} · {order.provider}",
            f"refunded {order.refunded} · refundable {order.refundable}",
        ]
        if order.late_payment:
            lines.append("paid **late** (after the order was closed)")
        if order.review is not None and order.status is OrderStatus.NEEDS_REVIEW:
            lines.append(f"needs review: {order.review.reason}")
        if order.status in OPEN_STATUSES:
            lines.append(f"deadline {order.deadline.isoformat()}")
        if order.status in CLOSED_STATUSES and order.failure is not None:
            lines.append(f"failure: {order.failure.code} {order.failure.message}")
        workflow.set_current_details("\n\n".join(lines))
        self._announce()

    def _announce(self) -> None:
        """Queue a merchant event for each change since the last one (see billing.events)."""
        order, log, now = self.order, self.events.log, workflow.now()
        for refund in order.refunds:
            state = refund.status.value
            data = functools.partial(events.refund_data, order, refund)
            log.announce(f"refund:{refund.refund_id}", state, f"refund.{state.lower()}", data, now)
        status = order.status.value
        log.announce("status", status, f"order.{status.lower()}", lambda: events.order_data(order), now)
        self.events.kick()
