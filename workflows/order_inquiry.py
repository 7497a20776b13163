"""Asking the provider where an order's payment stands, and closing it there.

Inquiries on the backoff schedule, what a "no such payment" answer concludes (a lapsed checkout, a create
re-sent with its original idempotency key), the reasons an operator is given when inquiries cannot
conclude, and closing at the provider (cancel, then confirm by inquiry; or wait out the payment window of
a provider that cannot close). Workflow code.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

from activities.payments import (
    CancelPaymentCall,
    CreatePaymentCall,
    PaymentActivities,
    PaymentCall,
)
from billing.errors import InconclusiveCallError, InvalidStateError
from billing.gateway import (
    CancelPayment,
    CaptureMode,
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
    is_not_found,
    is_unsupported,
    not_found_answer,
    rejected,
    wait_or_time_out,
)
from workflows.order_run import OrderRun

#: An unknown outcome the provider has no query for goes to review at once (patched: orders that started
#: before this rule replay as they ran, inquiring until their limit).
REVIEW_WHEN_NO_INQUIRY = "review-when-provider-cannot-inquire"


class OrderInquiry(OrderRun):
    """Inquiries, the create's re-send, and closing at the provider."""

    async def _wait_then_inquire(self, wait: timedelta) -> None:
        """Sleep until ``wait`` passes, a statement changes the status, or a check is requested."""
        status = self.order.status
        await wait_or_time_out(
            lambda: self.order.status is not status or self.check_requested,
            max(wait, timedelta(seconds=1)),
            "await provider notification",
        )
        if self.order.status is not status and not self.check_requested:
            return
        self.check_requested = False
        if clock_now() >= self.order.deadline and self.order.closing is None:
            return  # the deadline handling inquires itself
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
        except ActivityError as exc:
            if is_not_found(exc):
                await self._inquiry_not_found(exc)
                return
            self.order.note(clock_now(), "inquiry", f"no answer: {describe(exc)}")
            if (
                is_unsupported(exc)
                and self.order.status is OrderStatus.UNKNOWN
                and workflow.patched(REVIEW_WHEN_NO_INQUIRY)
            ):
                # The provider has no query for this payment (a wallet push to the payer's handset): asking again cannot
                # conclude it, and re-sending could charge twice. An operator checks at the provider.
                self.order.flag_for_review(self._no_inquiry_reason(not_found_answer(exc)), clock_now())
                self._publish()
            return
        except InconclusiveCallError as exc:
            self.order.note(clock_now(), "inquiry", f"no answer: {describe(exc)}")
            return
        self._apply(outcome, "inquiry")

    async def _inquiry_not_found(self, exc: ActivityError) -> None:
        """The provider answered that it has no such payment (a "no such order" code).

        A definite answer, unlike no answer at all, but not a final one: the create may yet be recorded.
        While the customer still has time, a create whose outcome was unknown is re-sent with its original
        idempotency key to providers that answer such repeats idempotently, then inquired again.
        """
        now = clock_now()
        self.not_found += 1
        self.not_found_since = self.not_found_since or now
        self.not_found_last = now
        self.not_found_answer = not_found_answer(exc)
        self.order.note(now, "inquiry", f"not found: {self.not_found_answer}")
        lapse = self.unanswered_lapse
        if self.order.status is OrderStatus.UNKNOWN and lapse is not None and now >= lapse:
            self.order.move(
                OrderStatus.FAILED,
                now,
                "inquiry",
                f"the create's answer was lost; any page it made was never shown and lapsed by "
                f"{lapse.isoformat()}, and {self.request.provider} has no transaction for it "
                f"({self.not_found_answer}): nothing was taken",
            )
            self._publish()
            return
        if self.order.checkout_lapsed(now) and workflow.patched("expire-lapsed-checkout"):
            # The provider's page lapsed unpaid and it has no transaction for it: nothing was taken.
            action = self.order.customer_action
            lapsed = action.expires_at.isoformat() if action and action.expires_at else "?"
            self.order.move(OrderStatus.EXPIRED, now, "inquiry", f"checkout lapsed at {lapsed}; no transaction")
            self._publish()
            return
        if (
            self.order.status is OrderStatus.UNKNOWN
            and self.create_unanswered is not None
            and self.create_call is not None
            and self.provider.create_resend
            and now < self.order.deadline
            # Bounded: a provider that never records the create is left to review, not re-sent forever
            # (a polled provider is asked every few seconds).
            and self.create_resends < self.policy.unknown_inquiry_limit
            and workflow.patched("resend-create-when-not-found")
        ):
            await self._resend_create(self.create_call)

    async def _resend_create(self, call: CreatePaymentCall) -> None:
        """The same create, same idempotency key and body: the provider records it once, or answers the first."""
        self.create_resends += 1
        self.order.note(
            clock_now(),
            "provider.create_resent",
            f"#{self.create_resends} with request id {call.request.idempotency_key}",
        )
        async with self.money_lock:
            try:
                outcome = await self._call(
                    PaymentActivities.create_payment,
                    call,
                    retry=MONEY_RETRY,
                    summary=f"re-send create payment at {self.request.provider}",
                )
            except (InconclusiveCallError, ActivityError) as exc:
                self.order.note(clock_now(), "provider.create", f"no answer: {describe(exc)}")
                return
        self._apply(outcome, "provider.create")

    def _no_inquiry_reason(self, answer: str) -> str:
        """What an operator checks at the provider for a payment the engine cannot ask about."""
        request, order = self.request, self.order
        if request.payment_method:
            method = request.payment_method
        elif request.waits_for_payer:
            method = "wallet push to the customer's phone"
        else:
            method = "the provider's default"
        if request.capture_mode is CaptureMode.MANUAL:
            method += " (pre-authorization)"
        unanswered = f" The create was unanswered: {self.create_unanswered}." if self.create_unanswered else ""
        return (
            f"{answer}.{unanswered} Look for referenceId {order.payment_key}: amount {order.amount}, sent at "
            f"{order.created_at.isoformat()}, payment method {method}. If it was approved, resolve PAID (then "
            "refund if unwanted); if there is none or it was declined, resolve FAILED."
        )

    def _unresolved_reason(self) -> str:
        """Why an order goes to review after its inquiries ran out: exactly what was seen, and what to check."""
        if self.not_found == 0 or self.not_found_since is None or self.not_found_last is None:
            return f"no final statement after {self.inquiries} inquiries"
        # The rule the engine keeps for every provider (provider documents state it too): an unknown outcome is never
        # assumed failed and the order is never closed on a guess; "still unknown -> wait". No provider
        # document makes "does not exist" final, so the engine does not conclude: an operator does.
        key = self.order.payment_key
        seen = [
            f"{self.request.provider} answered {self.not_found_answer!r} to {self.not_found} "
            f"inquiries from {self.not_found_since.isoformat()} to {self.not_found_last.isoformat()}"
        ]
        if self.create_unanswered is not None:
            seen.insert(0, f"create unanswered ({self.create_unanswered})")
        if self.create_resends:
            seen.append(f"the create was re-sent {self.create_resends} times with request id {key}")
        return (
            "; ".join(seen)
            + f". Check at {self.request.provider} whether request id {key} exists: if it does not, nothing was"
            " charged and the order can be resolved FAILED; if it does, resolve by its status."
        )

    async def _close_at_provider(self, reason: ClosingReason) -> None:
        """Cancel at the provider, then confirm by inquiry: a success that raced the cancel is money."""
        if self.provider_closes is False and workflow.patched("close-only-where-the-provider-can"):
            # The provider documents no close: no cancel is sent; the payment window is waited out.
            await self._await_provider_window(reason)
            return
        self.order.begin_closing(reason, clock_now())
        async with self.money_lock:
            try:
                outcome = await self._call(
                    PaymentActivities.cancel_payment,
                    CancelPaymentCall(
                        provider=self.request.provider,
                        request=CancelPayment(payment=self._payment_ref(), requested_at=clock_now()),
                    ),
                    retry=MONEY_RETRY,
                    summary=f"cancel payment ({reason.value})",
                )
                if outcome.failure is not None:
                    self.order.note(clock_now(), "provider.cancel", f"{outcome.failure.code} {outcome.failure.message}")
                if outcome.status in (PaymentStatus.CLOSED, PaymentStatus.SUCCEEDED) and workflow.patched(
                    "apply-cancel-statement"
                ):
                    # A verified statement: closed (voided, reversed) or already paid (money received). Some
                    # providers' inquiries still show a voided hold as approved, so the answer counts itself.
                    # (Patched: orders that started before this rule replay as they ran.)
                    self._apply(outcome, "provider.cancel")
                else:
                    self.order.note(clock_now(), "provider.cancel", outcome.provider_status or outcome.status.value)
            except (InconclusiveCallError, ActivityError) as exc:
                self.order.note(clock_now(), "provider.cancel", f"no answer: {describe(exc)}")
        # Confirm by inquiry rather than trusting the cancel response alone: a success that raced it is money.
        await self._inquire()
        self._publish()

    async def _await_provider_window(self, reason: ClosingReason) -> None:
        """The provider cannot close the payment: the customer may still pay until its window ends there.

        Keep inquiring on the schedule until ``payable_until`` has passed, then inquire once more: the
        provider's statement (closed, revoked, expired) concludes the order. Still no final statement after
        that: the closing loop goes on inquiring, and review follows its limit, as after any close.
        """
        self.order.closing, self.order.closing_at = reason, clock_now()
        until = self.payable_until or clock_now()
        self.order.note(
            clock_now(),
            "closing",
            f"{reason.value}: {self.request.provider} cannot close a payment; waiting until {until.isoformat()}",
        )
        self._publish()
        while not self._final() and clock_now() < until:
            await self._wait_then_inquire(min(self.policy.inquiry_wait(self.inquiries), until - clock_now()))
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
