"""AUTHORIZED: the merchant's capture, the void of the hold, and the reconciliation of either when its
answer was lost (see docs/unknown-outcomes.md). Every wait is bounded (``BOUNDED_AUTHORIZED_WAITS``);
runs that started before it replay the unbounded wait. Workflow code.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio.exceptions import ActivityError

from activities.payments import (
    CancelPaymentCall,
    CapturePaymentCall,
    PaymentActivities,
    PaymentCall,
)
from billing import idempotency
from billing.authorizations import RESEND_LIMIT, capture_review_reason, void_review_reason
from billing.errors import InconclusiveCallError
from billing.gateway import (
    CancelPayment,
    CapturePayment,
    PaymentOutcome,
    PaymentStatus,
)
from billing.orders import (
    ClosingReason,
    OrderStatus,
)
from workflows.common import (
    INQUIRY_RETRY,
    MONEY_RETRY,
    clock_now,
    describe,
    is_not_done,
    wait_or_time_out,
)
from workflows.order_inquiry import OrderInquiry


class OrderCapture(OrderInquiry):
    """Captures and voids of an authorized payment."""

    async def _await_capture(self) -> None:
        """AUTHORIZED: wait for the merchant's capture or cancel; void when the capture window ends.

        Every wait here is bounded. A capture or void whose answer was lost is settled by
        :meth:`_reconcile_capture` / :meth:`_reconcile_void` (re-send with the original request id, inquire),
        an accepted capture is confirmed by inquiry, and what stays inconclusive goes to NEEDS_REVIEW.
        """
        if not self._bounded():
            await self._await_capture_unbounded()
            return
        window_end = self._capture_window_end()
        while self.order.status is OrderStatus.AUTHORIZED:
            if self.capture_in_doubt:
                await self._reconcile_capture()
            elif self.void_in_doubt:
                await self._reconcile_void()
            elif self.order.capture_requested is not None:
                await self._confirm_capture()
            elif clock_now() >= window_end:
                # Held money is released when the merchant neither captured nor cancelled in time.
                await self._void_authorization(ClosingReason.CAPTURE_WINDOW)
            else:
                await wait_or_time_out(
                    lambda: (
                        self.order.status is not OrderStatus.AUTHORIZED
                        or self.order.capture_requested is not None
                        or self.capture_in_doubt
                        or self.void_in_doubt
                    ),
                    window_end - clock_now(),
                    "await capture",
                )

    def _capture_window_end(self) -> datetime:
        """When held money is released unless captured: the capture window from the authorization."""
        return (self.order.authorized_at or clock_now()) + self.policy.capture_window

    async def _authorized_pause(self, wait: timedelta, summary: str) -> None:
        """Sleep ``wait`` unless a statement ends AUTHORIZED first."""
        await wait_or_time_out(
            lambda: self.order.status is not OrderStatus.AUTHORIZED, max(wait, timedelta(seconds=1)), summary
        )

    async def _inquiry(self) -> PaymentOutcome | None:
        """Inquire and apply the answer; None when there was none."""
        self.inquiries += 1
        try:
            outcome: PaymentOutcome = await self._call(
                PaymentActivities.inquire_payment,
                PaymentCall(provider=self.request.provider, payment=self._payment_ref()),
                retry=INQUIRY_RETRY,
                summary=f"inquire payment #{self.inquiries}",
            )
        except (InconclusiveCallError, ActivityError) as exc:
            self.order.note(clock_now(), "inquiry", f"no answer: {describe(exc)}")
            return None
        self._apply(outcome, "inquiry")
        return outcome

    async def _reconcile_capture(self) -> None:
        """A capture's answer was lost: inquire, re-send it with its original request id, at most RESEND_LIMIT
        times; then an operator decides.

        An inquiry that tells captured from held money decides (paid versus authorized, waiting for capture).
        One that cannot (a transaction lookup that says "Approved" for both) reads as AUTHORIZED, which
        concludes nothing: the commit is re-sent, and the provider answers the repeat of the same request.
        A PENDING inquiry (capture in progress) is waited on, never answered with a second capture.
        """
        for attempt in range(RESEND_LIMIT):
            await self._authorized_pause(self.policy.inquiry_wait(attempt), "capture in doubt")
            if self.order.status is not OrderStatus.AUTHORIZED or not self.capture_in_doubt:
                return
            outcome = await self._inquiry()
            if self.order.status is not OrderStatus.AUTHORIZED or not self.capture_in_doubt:
                return
            if outcome is None or outcome.status is PaymentStatus.AUTHORIZED:
                await self._send_capture(resend=True)
                if self.order.status is not OrderStatus.AUTHORIZED or not self.capture_in_doubt:
                    return
        self.capture_in_doubt = False
        self.order.flag_for_review(
            capture_review_reason(self.order, f"no definite answer after {RESEND_LIMIT} inquiries and re-sends"),
            clock_now(),
        )
        self._publish()

    async def _confirm_capture(self) -> None:
        """A capture was accepted and not yet confirmed (a "capture in progress" status): inquire on the schedule,
        at most ``unknown_inquiry_limit`` times."""
        for attempt in range(self.policy.unknown_inquiry_limit):
            await self._authorized_pause(self.policy.inquiry_wait(attempt), "await capture result")
            if self.order.status is not OrderStatus.AUTHORIZED or self.order.capture_requested is None:
                return
            if self.capture_in_doubt:
                return  # a retried capture lost its answer: reconciled instead
            await self._inquiry()
            if self.order.status is not OrderStatus.AUTHORIZED or self.order.capture_requested is None:
                return
        self.order.flag_for_review(
            capture_review_reason(
                self.order, f"accepted but not confirmed after {self.policy.unknown_inquiry_limit} inquiries"
            ),
            clock_now(),
        )
        self._publish()

    async def _send_capture(self, *, resend: bool) -> None:
        """Send the capture requested last, with its own request id (a re-send repeats it), and apply the answer.

        No answer: the capture is in doubt. A refusal of a first capture leaves the hold to capture again; a
        refusal of a re-send is no such proof (a provider refuses a capture once the order is no longer authorized).
        """
        amount = self.order.capture_requested
        assert amount is not None
        key = idempotency.capture_key(self.order.order_id, self.order.captures_requested)
        async with self.money_lock:
            if resend and (self.order.status is not OrderStatus.AUTHORIZED or not self.capture_in_doubt):
                return  # settled while waiting for the lock (a concurrent retry or a statement)
            try:
                outcome: PaymentOutcome = await self._call(
                    PaymentActivities.capture_payment,
                    CapturePaymentCall(
                        provider=self.request.provider,
                        request=CapturePayment(
                            idempotency_key=key,
                            payment=self._payment_ref(),
                            amount=amount,
                            requested_at=clock_now(),
                        ),
                    ),
                    retry=MONEY_RETRY,
                    summary=f"capture {amount}" + (" (re-send)" if resend else ""),
                )
            except InconclusiveCallError as exc:
                self._capture_unanswered(exc)
                return
            except ActivityError as exc:
                if not self._bounded() or not is_not_done(exc):
                    self._capture_unanswered(exc)
                    return
                # Not done: nothing was sent on any attempt, or the input was refused. A first capture may be
                # asked again; a re-send leaves the earlier attempt as much in doubt as it was.
                self.order.note(clock_now(), "provider.capture", f"not sent: {describe(exc)}")
                if not (resend or self.capture_in_doubt):
                    self.order.capture_requested = None
                return
        if outcome.failure is not None and outcome.status is PaymentStatus.PENDING:
            refusal = f"{outcome.failure.code} {outcome.failure.message}".strip()
            self.order.note(clock_now(), "provider.capture", f"refused: {refusal}")
            if (resend or self.capture_in_doubt) and self.order.status is OrderStatus.AUTHORIZED:
                self.capture_in_doubt = False
                self.order.flag_for_review(
                    capture_review_reason(self.order, f"the re-sent capture was refused ({refusal})"), clock_now()
                )
                self._publish()
            else:
                self.order.capture_requested = None
            return
        self.capture_in_doubt = False
        self._apply(outcome, "provider.capture")

    def _capture_unanswered(self, exc: BaseException) -> None:
        self.order.note(clock_now(), "provider.capture", f"no answer: {describe(exc)}")
        self.capture_in_doubt = True
        if not self._bounded():
            self.check_requested = True  # the unbounded wait confirms by inquiry on this hint

    async def _void_authorization(self, reason: ClosingReason) -> None:
        """Release the hold (merchant cancel or the end of the capture window) and apply the answer.

        No answer: the void is in doubt and re-sent (:meth:`_reconcile_void`). A refusal is never ignored:
        an inquiry that can tell may still conclude; otherwise the hold may have been captured ("no such
        transaction" after a commit whose answer was lost) and an operator decides.
        """
        self.order.closing = reason
        self.order.note(clock_now(), "closing", reason.value)
        await self._send_void(resend=False)
        self._publish()

    async def _send_void(self, *, resend: bool) -> None:
        async with self.money_lock:
            if self.order.status is not OrderStatus.AUTHORIZED:
                return
            try:
                outcome: PaymentOutcome = await self._call(
                    PaymentActivities.cancel_payment,
                    CancelPaymentCall(
                        provider=self.request.provider,
                        request=CancelPayment(payment=self._payment_ref(), requested_at=clock_now()),
                    ),
                    retry=MONEY_RETRY,
                    summary="void authorization" + (" (re-send)" if resend else ""),
                )
            except InconclusiveCallError as exc:
                self.order.note(clock_now(), "provider.cancel", f"no answer: {describe(exc)}")
                self.void_in_doubt = True
                return
            except ActivityError as exc:
                self.void_in_doubt = False
                self.order.flag_for_review(
                    void_review_reason(self.order, f"the void could not be sent ({describe(exc)})"), clock_now()
                )
                return
        if outcome.status in (PaymentStatus.CLOSED, PaymentStatus.SUCCEEDED):
            self.void_in_doubt = False
            self._apply(outcome, "provider.cancel")
            return
        if outcome.failure is None:
            self.order.note(clock_now(), "provider.cancel", f"no statement: {outcome.provider_status}")
            self.void_in_doubt = True
            return
        refusal = f"{outcome.failure.code} {outcome.failure.message}".strip()
        self.order.note(clock_now(), "provider.cancel", f"refused: {refusal}")
        self.void_in_doubt = False
        await self._inquiry()
        if self.order.status is OrderStatus.AUTHORIZED:
            reason = void_review_reason(self.order, f"the void was refused ({refusal})")
            self.order.flag_for_review(reason, clock_now())

    async def _reconcile_void(self) -> None:
        """A void's answer was lost: re-send it with the same request id, at most RESEND_LIMIT times (a release
        repeated after it took effect answers "already cancelled"); then an operator decides."""
        for attempt in range(RESEND_LIMIT):
            await self._authorized_pause(self.policy.inquiry_wait(attempt), "void in doubt")
            if self.order.status is not OrderStatus.AUTHORIZED or not self.void_in_doubt:
                return
            await self._send_void(resend=True)
            self._publish()
            if self.order.status is not OrderStatus.AUTHORIZED or not self.void_in_doubt:
                return
        self.void_in_doubt = False
        self.order.flag_for_review(
            void_review_reason(self.order, f"no answer after {RESEND_LIMIT} re-sends"), clock_now()
        )
        self._publish()

    async def _await_capture_unbounded(self) -> None:
        """AUTHORIZED as orders that started before BOUNDED_AUTHORIZED_WAITS ran it (kept for replay)."""
        window_end = self._capture_window_end()
        while self.order.status is OrderStatus.AUTHORIZED:
            now = clock_now()
            if now >= window_end and self.order.closing is None:
                await self._close_at_provider(ClosingReason.CAPTURE_WINDOW)
                return
            if self.order.capture_requested is not None or self.order.closing is not None:
                # A capture or void is in flight: confirm it on the inquiry schedule.
                await self._wait_then_inquire(self.policy.inquiry_wait(self.inquiries))
                continue
            await wait_or_time_out(
                lambda: (
                    self.order.status is not OrderStatus.AUTHORIZED
                    or self.order.capture_requested is not None
                    or self.order.closing is not None
                ),
                window_end - now,
                "await capture",
            )
