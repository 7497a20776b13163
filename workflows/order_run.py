"""The state one OrderWorkflow run holds, and what every part of it shares.

:class:`OrderRun` carries the order, the create request and the run's bookkeeping (events seen, inquiries
made, captures and voids in doubt, hints), and does what every part needs: call the provider, apply a
payment statement, publish search attributes, current details and merchant events, tell the issuing
workflow where the order stands. The parts build on it (``workflows.order_inquiry``, ``workflows.order_capture``,
``workflows.order_refunds``) and :class:`workflows.order_flow.OrderFlow` joins them. Workflow code: no I/O,
no clock or randomness but ``clock_now()``, no state at module level.
"""

from __future__ import annotations

import asyncio
import functools
from datetime import datetime

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import FailureError

from activities.payments import (
    CreatePaymentCall,
    PaymentActivities,
)
from billing import events, metrics
from billing import search_attributes as sa
from billing.gateway import (
    PaymentOutcome,
    PaymentRef,
)
from billing.hints import HintLedger
from billing.orders import (
    CLOSED_STATUSES,
    FINAL_STATUSES,
    OPEN_STATUSES,
    CreateOrder,
    OrderStatus,
    OrderUpdate,
)
from providers.registry import provider_spec
from providers.spec import ProviderSpec
from workflows.common import (
    A,
    ProviderActivity,
    R,
    S,
    call_provider,
    clock_now,
    started_with,
)
from workflows.events import EventSender

#: Every wait in AUTHORIZED ends: lost capture and void answers are re-sent, then reviewed (patched: orders
#: that started before this rule replay as they ran).
BOUNDED_AUTHORIZED_WAITS = "bounded-authorized-waits"


class OrderRun:
    """The state of one order run and what every part of it shares."""

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
        self.hints_in_run = started_with(events.HINTS_IN_RUN_FEATURE)
        log = events.EventLog(kind="order", object_id=request.order_id)
        log.start("status", self.order.status.value)
        self.events = EventSender(log, lambda kind, detail: self.order.note(clock_now(), kind, detail))

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
