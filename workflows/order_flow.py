"""What an order workflow does: the whole of :class:`~workflows.order.OrderWorkflow` behind its handlers.

``OrderWorkflow`` (``workflows/order.py``) declares the workflow: its name, run method, signals,
updates and query, each delegating to one :class:`OrderFlow` created per run. Everything else lives here.
A worker imports this module once and every run shares it (``worker.workflow_runner``); the tests run it
in the SDK's sandbox, which refuses any clock, randomness or I/O it reaches. It is workflow code: it runs
on the workflow's event loop, reads time through ``clock_now()``, and keeps no module-level state
(every run shares the module); provider-agnostic, it talks to
activities in the engine's normalized vocabulary and lets :class:`billing.orders.Order` decide what
every statement means.
"""

from __future__ import annotations

import asyncio
import functools
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, FailureError

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
from billing.authorizations import RESEND_LIMIT, capture_review_reason, void_review_reason
from billing.errors import ConflictError, InconclusiveCallError, InputError, InvalidAmountError, InvalidStateError
from billing.gateway import (
    CancelPayment,
    CaptureMode,
    CapturePayment,
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
from billing.hints import HINT_WINDOW, HintLedger, HintState
from billing.orders import (
    CLOSED_STATUSES,
    FINAL_REFUND_STATES,
    FINAL_STATUSES,
    OPEN_STATUSES,
    PAID_STATUSES,
    REFUND_RESENDS,
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
from providers.registry import provider_spec
from providers.spec import ProviderSpec
from workflows.common import (
    INQUIRY_RETRY,
    MONEY_RETRY,
    SINGLE_SHOT,
    A,
    ProviderActivity,
    R,
    S,
    call_provider,
    clock_now,
    describe,
    is_not_done,
    is_not_found,
    is_unsupported,
    not_found_answer,
    rejected,
)
from workflows.events import EventSender
from workflows.refund_reports import report_refunds

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

LATE_PAYMENT_REFUND_ID = "late-payment-refund"
#: Every wait in AUTHORIZED ends: lost capture and void answers are re-sent, then reviewed (patched: orders
#: that started before this rule replay as they ran).
BOUNDED_AUTHORIZED_WAITS = "bounded-authorized-waits"
#: Hints are coalesced and rationed from this change on (see billing.hints); runs that started before it
#: replay as they ran, acting on every hint.
COALESCE_HINTS_PATCH = "coalesce-hints"
#: Orders of a late-paying provider (ProviderSpec.late_paying) that ended unpaid keep asking for a late
#: payment (_late_payment_watch).
LATE_PAYMENT_WATCH_PATCH = "late-payment-watch"
#: A create of a lapsing checkout whose answer was lost fails once any page it made has lapsed
#: (_unanswered_checkout_lapses).
UNANSWERED_CHECKOUT_LAPSES = "unanswered-checkout-lapses"
#: Added to a checkout's documented lifetime before "no such payment" counts as final: clocks differ.
CHECKOUT_LAPSE_MARGIN = timedelta(minutes=1)
LATE_WATCHED_STATUSES = frozenset({OrderStatus.EXPIRED, OrderStatus.CANCELLED})
#: An unknown outcome the provider has no query for goes to review at once (patched: orders that started
#: before this rule replay as they ran, inquiring until their limit).
REVIEW_WHEN_NO_INQUIRY = "review-when-provider-cannot-inquire"


class OrderFlow:
    """Everything an order workflow run holds and does; see the module docstring."""

    @property
    def provider(self) -> ProviderSpec:
        """The declaration of the order's provider: pure data, the same answer on every replay."""
        return provider_spec(self.request.provider)

    def __init__(self, request: CreateOrder) -> None:
        now = clock_now()
        self.request = request
        self.fingerprint = request.fingerprint()
        self.policy = request.policy
        self.order = request.new_order(now)
        self.order.note(now, "created", request.summary)
        self.created = False
        self.seen_events: set[str] = set()
        self.check_requested = False
        self.result_token: str | None = None
        self.inquiries = 0
        # A capture or void was sent and its answer lost: it may have taken effect (see _await_capture).
        self.capture_in_doubt = False
        self.void_in_doubt = False
        # Whether this run follows BOUNDED_AUTHORIZED_WAITS; known once a decision asked (see _bounded).
        self.bounded_waits = False
        self.hints = HintLedger()
        #: The create request, kept to re-send it with the same idempotency key (see _inquiry_not_found).
        self.create_call: CreatePaymentCall | None = None
        #: How the create's outcome was unknown, and when (for the review reason).
        self.create_unanswered: str | None = None
        self.create_resends = 0
        self.deadline_inquired = False
        #: Inquiries the provider answered "no such payment": how many, the first and last time, the answer.
        self.not_found = 0
        self.not_found_since: datetime | None = None
        self.not_found_last: datetime | None = None
        self.not_found_answer = ""
        # From the create answer: whether the provider can close this payment (None: assumed it can) and
        # until when it may still take the money (see _await_provider_window).
        self.provider_closes: bool | None = None
        self.payable_until: datetime | None = None
        #: A create whose answer was lost, of a checkout that lapses (ProviderSpec.checkout_lifetime): when
        #: any page it made has lapsed; "no such payment" after it means nothing was taken.
        self.unanswered_lapse: datetime | None = None
        # Provider calls that move money for this order are made one at a time.
        self.money_lock = asyncio.Lock()
        self._published: OrderStatus | None = None
        #: Refunds reported to the issuer (an invoice order's subscription issues a credit note for each).
        self.refunds_reported: set[str] = set()
        self.hints_in_run = events.started_with(
            workflow.memo_value(events.FEATURES_MEMO, None, type_hint=list[str]), events.HINTS_IN_RUN_FEATURE
        )
        log = events.EventLog(kind="order", object_id=request.order_id)
        log.start("status", self.order.status.value)
        self.events = EventSender(log, lambda kind, detail: self.order.note(clock_now(), kind, detail))

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
            self.order.note(clock_now(), "issuer", f"could not tell {target}: {exc}")

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

    async def _await_capture(self) -> None:
        """AUTHORIZED: wait for the merchant's capture or cancel; void when the capture window ends.

        Every wait here is bounded. A capture or void whose answer was lost is settled by
        :meth:`_reconcile_capture` / :meth:`_reconcile_void` (re-send with the original request id, inquire),
        an accepted capture is confirmed by inquiry, and what stays inconclusive goes to NEEDS_REVIEW.
        """
        if not self._bounded():
            await self._await_capture_unbounded()
            return
        window_end = (self.order.authorized_at or clock_now()) + self.policy.capture_window
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
                try:
                    await workflow.wait_condition(
                        lambda: (
                            self.order.status is not OrderStatus.AUTHORIZED
                            or self.order.capture_requested is not None
                            or self.capture_in_doubt
                            or self.void_in_doubt
                        ),
                        timeout=window_end - clock_now(),
                        timeout_summary="await capture",
                    )
                except TimeoutError:
                    pass

    async def _authorized_pause(self, wait: timedelta, summary: str) -> None:
        """Sleep ``wait`` unless a statement ends AUTHORIZED first."""
        try:
            await workflow.wait_condition(
                lambda: self.order.status is not OrderStatus.AUTHORIZED,
                timeout=max(wait, timedelta(seconds=1)),
                timeout_summary=summary,
            )
        except TimeoutError:
            pass

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
        window_end = (self.order.authorized_at or clock_now()) + self.policy.capture_window
        while self.order.status is OrderStatus.AUTHORIZED:
            now = clock_now()
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

    # -- helpers ----------------------------------------------------------------------------------------

    def _bounded(self) -> bool:
        """Whether this run follows BOUNDED_AUTHORIZED_WAITS: asked (and recorded) at the first decision that
        depends on it; validators, which may not record anything, read ``bounded_waits`` afterwards."""
        self.bounded_waits = workflow.patched(BOUNDED_AUTHORIZED_WAITS)
        return self.bounded_waits

    def _payment_ref(self) -> PaymentRef:
        return PaymentRef(
            idempotency_key=self.order.payment_key,
            provider_reference=self.order.provider_reference,
            result_token=self.result_token,
            payer_push=self.request.waits_for_payer,
        )

    def _final(self) -> bool:
        return self.order.status in FINAL_STATUSES

    def _duplicate(self, event_key: str) -> bool:
        if event_key in self.seen_events:
            self.order.note(clock_now(), "notification", "duplicate ignored")
            return True
        self.seen_events.add(event_key)
        return False

    def _apply(self, outcome: PaymentOutcome, source: str) -> None:
        self.order.apply_payment(outcome, source=source, at=clock_now())
        self._publish()

    async def _call(self, activity: ProviderActivity[S, A, R], call: A, *, retry: RetryPolicy, summary: str) -> R:
        inquiry = activity in (PaymentActivities.inquire_payment, PaymentActivities.inquire_refund)
        if inquiry:
            self.hints.inquiry_started()  # hints coalesce with inquiries in flight and just made
        try:
            return await call_provider(
                activity,
                call,
                timeout=self.policy.call_limit(self.request.provider),
                retry=retry,
                summary=summary,
            )
        finally:
            if inquiry:
                self.hints.inquiry_ended(clock_now())

    def _publish(self) -> None:
        """Search attributes and current details for the Temporal UI. No personal data."""
        order = self.order
        if self._published is None:
            # Set at start by the client (see BillingClient.create_order)? Then only changes follow.
            started_with = workflow.info().typed_search_attributes.get(sa.BILLING_STATUS)
            if started_with is not None:
                self._published = OrderStatus(started_with)
        if self._published is None:
            # Started without them (an invoice order of a subscription): the same set the client starts with.
            workflow.upsert_search_attributes(
                sa.upserts(
                    sa.at_start(
                        status=order.status.value,
                        provider=order.provider,
                        customer_id=order.customer_id,
                        amount=order.amount,
                    )
                )
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
        order, log, now = self.order, self.events.log, clock_now()
        for refund in order.refunds:
            state = refund.status.value
            data = functools.partial(events.refund_data, order, refund)
            log.announce(f"refund:{refund.refund_id}", state, f"refund.{state.lower()}", data, now)
        status = order.status.value
        log.announce("status", status, f"order.{status.lower()}", lambda: events.order_data(order), now)
        self.events.kick()
