"""After the final status: the refund window, refunds at the provider, and payments that arrive late.

The run stays open until the refund window ends, inquiring about open refunds on the schedule; a late
payment is refunded when the policy says so, and a late-paying provider's unpaid orders keep asking for
one (``ProviderSpec.late_paying``). Workflow code.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

from activities.payments import (
    PaymentActivities,
    RefundCall,
    RefundInquiryCall,
)
from billing import idempotency
from billing.errors import InconclusiveCallError
from billing.gateway import (
    CreateRefund,
    RefundOutcome,
    RefundRef,
    RefundStatus,
)
from billing.orders import (
    FINAL_REFUND_STATES,
    PAID_STATUSES,
    REFUND_RESENDS,
    LatePaymentPolicy,
    OrderStatus,
    Refund,
    RefundState,
)
from workflows.common import (
    INQUIRY_RETRY,
    MONEY_RETRY,
    SINGLE_SHOT,
    clock_now,
    describe,
    is_not_found,
    wait_or_time_out,
)
from workflows.order_inquiry import OrderInquiry
from workflows.refund_reports import report_refunds

LATE_PAYMENT_REFUND_ID = "late-payment-refund"
#: Orders of a late-paying provider (ProviderSpec.late_paying) that ended unpaid keep asking for a late
#: payment (_late_payment_watch).
LATE_PAYMENT_WATCH_PATCH = "late-payment-watch"
LATE_WATCHED_STATUSES = frozenset({OrderStatus.EXPIRED, OrderStatus.CANCELLED})


class OrderRefunds(OrderInquiry):
    """The refund window, refunds, and late payments."""

    async def _after_final(self) -> None:
        """Stay open for refunds (and to record late statements) until the refund window ends."""
        await self._apply_late_payment_policy()
        closes_at = (self.order.closed_at or clock_now()) + self.policy.refund_window
        watch = self._late_payment_watch(closes_at)
        while True:
            await report_refunds(self.order, self.request.notify_workflow_id, self.refunds_reported)
            open_refunds = self.order.open_refunds()
            now = clock_now()
            if watch and now >= watch[0]:
                watch.pop(0)
                if await self._look_for_late_payment():
                    watch = []
                    closes_at = clock_now() + self.policy.refund_window
                continue
            if not open_refunds and now >= closes_at:
                return
            if open_refunds:
                wait = self.policy.inquiry_wait(min(r.inquiries for r in open_refunds))
            else:
                wait = closes_at - now
            if watch:
                wait = min(wait, watch[0] - now)
            if await self._refunds_changed_within(wait, "await refund result" if open_refunds else "refund window"):
                continue
            for refund in self.order.open_refunds():
                await self._inquire_refund(refund)
                if refund.status in (RefundState.PENDING, RefundState.UNKNOWN) and (
                    refund.inquiries >= self.policy.unknown_inquiry_limit
                ):
                    self.order.refund_needs_review(
                        refund, f"no final statement after {refund.inquiries} inquiries", clock_now()
                    )
                    self._publish()

    async def _apply_late_payment_policy(self) -> None:
        if self.order.late_payment and self.policy.late_payment is LatePaymentPolicy.REFUND:
            await self._refund_late_payment()

    def _late_payment_watch(self, closes_at: datetime) -> list[datetime]:
        """When to look for a payment made after the close (``ProviderSpec.late_paying``): the policy's waits from
        the close, the last look no later than the end of the refund window."""
        if not self.policy.late_payment_watch:
            return []
        if not self.provider.late_paying or self.order.status not in LATE_WATCHED_STATUSES:
            return []
        if not workflow.patched(LATE_PAYMENT_WATCH_PATCH):
            return []
        at, times = self.order.closed_at or clock_now(), []
        for wait in self.policy.late_payment_watch:
            at += wait
            if at >= closes_at:
                break
            times.append(at)
        return [*times, closes_at]

    async def _look_for_late_payment(self) -> bool:
        """Ask the provider about the payment once more: True if it was paid after all (the order is then
        PAID, late; the issuer is told and the late-payment policy applies)."""
        if self.order.status not in LATE_WATCHED_STATUSES:
            return False  # an operator or a statement settled it meanwhile
        await self._inquire()
        if self.order.status not in PAID_STATUSES:
            return False
        await self._notify_issuer()
        await self._apply_late_payment_policy()
        return True

    async def _refunds_changed_within(self, wait: timedelta, summary: str) -> bool:
        """Wait up to ``wait`` for a refund to be added or settled (or a check hint)."""
        before = (len(self.order.refunds), len(self.order.open_refunds()))
        if not await wait_or_time_out(
            lambda: (len(self.order.refunds), len(self.order.open_refunds())) != before or self.check_requested,
            wait,
            summary,
        ):
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
                    retry=SINGLE_SHOT if self.provider.single_shot_refunds else MONEY_RETRY,
                    summary=f"refund {refund.refund_id} {refund.amount}"
                    + (f" (re-sent, send {refund.sends})" if refund.sends > 1 else ""),
                )
            except InconclusiveCallError as exc:
                self._refund_call_unknown(refund, str(exc))
                return
            except ActivityError as exc:
                if refund.sends > 1:
                    # Nothing was sent this time, but the first call of this key ended without an answer:
                    # the refund is still unknown, never failed on this call's word.
                    self._refund_call_unknown(refund, f"re-send not sent: {describe(exc)}")
                    return
                outcome = RefundOutcome(status=RefundStatus.FAILED, provider_status=describe(exc))
        self.order.apply_refund(refund, outcome, source="provider.refund", at=clock_now())
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
        except (InconclusiveCallError, ActivityError) as exc:
            if (
                isinstance(exc, ActivityError)
                and is_not_found(exc)
                and refund.status is RefundState.UNKNOWN
                and workflow.patched("refund-not-found-resend")
            ):
                await self._refund_not_found(refund, describe(exc))
                return
            self.order.note(clock_now(), "refund_inquiry", f"{refund.refund_id}: no answer: {describe(exc)}")
            return
        self.order.apply_refund(refund, outcome, source="refund_inquiry", at=clock_now())
        self._publish()

    def _refund_call_unknown(self, refund: Refund, reason: str) -> None:
        """The refund call did not conclude. A refund already settled (its notification overtook the call's
        answer) stays settled: refund states, and the merchant's refund events, never go backwards."""
        if refund.status in FINAL_REFUND_STATES and not workflow.patched("refund-final-stays-final"):
            # Histories from before the rule replay as they ran.
            refund.status = RefundState.UNKNOWN
            self.order.note(clock_now(), "provider.refund", f"{refund.refund_id}: unknown: {reason}")
            return
        self.order.refund_unknown(refund, reason, source="provider.refund", at=clock_now())

    async def _refund_not_found(self, refund: Refund, answer: str) -> None:
        """The provider does not know a refund whose call ended without an answer: that call did not land.

        Where the provider deduplicates refunds by our key (its refund request id) the same request is sent
        again with the same key, a bounded number of times: it cannot refund twice. A provider that repeats
        money on a repeat (``ProviderSpec.single_shot_refunds``) is never re-sent to. Still unknown after that:
        an operator decides, told exactly why.
        """
        now, provider = clock_now(), self.request.provider
        if self.provider.single_shot_refunds:
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
            requested_at=clock_now(),
            automatic=True,
        )
        self.order.add_refund(refund, clock_now())
        await self._send_refund(refund)
