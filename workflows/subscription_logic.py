"""What SubscriptionWorkflow does: one subscription for its whole life, as plain deterministic code.

Provider-managed mode (native subscriptions): the provider charges every period; the workflow
creates the subscription, waits for the customer's authorization, then mirrors each period from the
provider's notifications, with a deadline per period after which it inquires. Engine modes own the
calendar and bill each period through an invoice order. Merchant commands (cancel now or at period end,
pause, resume, plan change, management link) are Updates validated before anything is recorded. The
state travels across continue-as-new, so a subscription can live for years.

The parts: ``subscription_run`` (the state and what both modes share: waits, inquiries, publishing),
``subscription_invoicing`` (numbered invoices), ``subscription_engine`` (engine modes),
``subscription_mirror`` (provider-managed) and ``credit_notes`` (a credit note per refund of an invoice
order). This module joins them with the main line and the merchant commands that apply to both modes.

:class:`workflows.subscription.SubscriptionWorkflow` is the Temporal entry point: its handlers only
delegate here. A worker loads this module once and every run shares it (``worker.workflow_runner``); it
keeps to workflow rules, which the tests' checking sandbox enforces: no I/O, no clock or randomness but
``clock_now()``, no state at module level (everything lives on the :class:`SubscriptionLogic`
instance a run owns).
"""

from __future__ import annotations

import asyncio

from temporalio import workflow

from billing import events, idempotency
from billing.change_preview import ChangePreview, change_preview
from billing.clocks import ClockPosition, ClockSync
from billing.errors import ConflictError, InputError, InvalidStateError
from billing.gateway import (
    CancelledBy,
    SubscriptionPlan,
)
from billing.subscriptions import (
    ENGINE_MODES,
    CancelSubscriptionRequest,
    ChangePlanRequest,
    PendingChange,
    ResumeSubscriptionRequest,
    SubmitSubscription,
    Subscription,
    SubscriptionInput,
    SubscriptionStatus,
)
from workflows.common import (
    clock_now,
    rejected,
)
from workflows.credit_notes import CreditNotes
from workflows.subscription_balance import return_voided
from workflows.subscription_coupons import SubscriptionCoupons
from workflows.subscription_engine import EngineBilling
from workflows.subscription_mirror import ProviderMirror
from workflows.subscription_run import SEEN_EVENTS_KEPT


class SubscriptionLogic(EngineBilling, ProviderMirror, CreditNotes, SubscriptionCoupons):
    """One subscription run: the main line and the merchant commands that apply to both modes."""

    async def run(self) -> Subscription:
        engine = self.sub.mode in ENGINE_MODES
        # Numbers stored by this run are confirmed from a later workflow task, alongside the main line.
        confirming = asyncio.create_task(self._confirm_stored_numbers())
        if not self.created:
            self.sub.note(clock_now(), "created", self.request.summary)
            if engine:
                await self._coupon_at_start()
                self.created = True
            else:
                await self._create_at_provider()
        self._publish()
        while not self.sub.is_final:
            if engine:
                await self._engine_cycle()
            elif self.sub.status is SubscriptionStatus.INCOMPLETE:
                await self._await_activation()
            else:
                await self._mirror_period()
            if not engine:
                await self._record_provider_invoices()
            if self._should_continue_as_new():
                # Handlers first: an update in flight must finish in this run, and its effects travel.
                self.clock_handover = True
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(
                    SubscriptionInput(
                        request=self.request,
                        state=self.sub,
                        seen_events=self.seen[-SEEN_EVENTS_KEPT:],
                        events=self.events.log,
                        test_clock=self.test_clock,
                        clock_time=self.simulated_now,
                        unconfirmed_numbers=self._carried_confirmations(),
                    ),
                    memo=events.features_memo(),
                )
        if not engine:
            await self._record_provider_invoices()
        await return_voided(self.sub, self._balance_returned)
        await self._watch_after_end()
        # An invoice order that ended during the watch may have voided its invoice.
        await return_voided(self.sub, self._balance_returned)
        self.clock_finished = True
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self.events.flushed()
        # Numbers due for confirmation are confirmed before the run ends (a later task's are kept by the sequence).
        await workflow.wait_condition(lambda: not self._confirming and not self._confirmations_due())
        confirming.cancel()
        return self.sub

    async def _watch_after_end(self) -> None:
        """Stay open a while after the end: late statements are recorded, commands answered."""
        closes_at = (self.sub.cancelled_at or clock_now()) + self.policy.final_watch
        while clock_now() < closes_at:
            if not await self._wait_until(lambda: self.check_requested, closes_at - clock_now(), "final watch"):
                return
            self.check_requested = False
            await self._inquire()

    async def submit(self, request: SubmitSubscription) -> Subscription:
        """Creation (update-with-start): returns once the provider answered, with the authorization URL."""
        await workflow.wait_condition(lambda: self.created)
        return self.sub

    def validate_submit(self, request: SubmitSubscription) -> None:
        if request.fingerprint != self.fingerprint:
            raise rejected(
                ConflictError(
                    f"subscription {request.subscription_id} exists with different parameters", field="subscription_id"
                )
            )

    async def cancel(self, request: CancelSubscriptionRequest) -> Subscription:
        try:
            self._check_cancel(request)
        except InputError as exc:
            raise rejected(exc) from exc
        now = clock_now()
        if request.at_period_end:
            self.sub.cancel_at_period_end = True
            self.sub.note(now, "cancel_at_period_end", request.reason or "requested by the merchant")
            self._publish()
            return self.sub
        self.sub.note(now, "cancel_requested", request.reason or "requested by the merchant")
        if self.sub.mode in ENGINE_MODES:
            # Nothing runs at the provider between invoices: the engine simply stops billing.
            self.sub.cancelled_by = CancelledBy.MERCHANT
            self.sub.move(SubscriptionStatus.CANCELLED, now, "cancelled", request.reason or "by the merchant")
            self.sub.void_unpaid_invoices(now)
            self.sub.refresh_next_billing()
        else:
            await self._cancel_at_provider("merchant")
        self._publish()
        return self.sub

    def validate_cancel(self, request: CancelSubscriptionRequest) -> None:
        try:
            self._check_cancel(request)
        except InputError as exc:
            raise rejected(exc) from exc

    def _check_cancel(self, request: CancelSubscriptionRequest) -> None:
        self.sub.check_cancel(request)
        if self.sub.status is SubscriptionStatus.INCOMPLETE and self.sub.mode not in ENGINE_MODES:
            raise InvalidStateError(
                "an INCOMPLETE provider-managed subscription cannot be cancelled at the provider; "
                "it closes by itself when its authorization window ends"
            )

    def resume(self, request: ResumeSubscriptionRequest) -> Subscription:
        """Undo a cancel-at-period-end before the period ends, or resume a paused subscription."""
        if self.sub.status is SubscriptionStatus.PAUSED:
            # Periods that started while paused are skipped: billing resumes with the next period.
            self._skip_paused_periods()
            self.sub.move(SubscriptionStatus.ACTIVE, clock_now(), "resumed", request.reason or "billing resumes")
            self.sub.refresh_next_billing()
        else:
            self.sub.cancel_at_period_end = False
            self.sub.note(clock_now(), "resumed", request.reason or "cancel at period end withdrawn")
        self._publish()
        return self.sub

    def validate_resume(self, request: ResumeSubscriptionRequest) -> None:
        try:
            self.sub.check_resume()
        except InputError as exc:
            raise rejected(exc) from exc

    async def change_plan(self, request: ChangePlanRequest) -> Subscription:
        """Change plan now (prorated) or at the end of the current period."""
        now = clock_now()
        try:
            proration = self.sub.check_change_request(request, now)
        except InputError as exc:
            raise rejected(exc) from exc
        generation = self.sub.generation + 1
        change = PendingChange(
            generation=generation,
            request_key=idempotency.subscription_key(self.request.subscription_id, generation),
            plan=request.plan,
            proration=proration,
            scheduled=request.at_period_end,
            requested_at=now,
        )
        self.sub.pending_change = change
        if request.at_period_end:
            self.sub.note(now, "change_scheduled", f"to {request.plan.plan_id} at period end")
        elif self.sub.mode in ENGINE_MODES:
            assert proration is not None
            await self._change_engine_now(request.plan, proration)
        else:
            await self._send_change(change)
        self._publish()
        return self.sub

    def validate_change_plan(self, request: ChangePlanRequest) -> None:
        try:
            self.sub.check_change_request(request, clock_now())
        except InputError as exc:
            raise rejected(exc) from exc

    def preview_change(self, plan: SubscriptionPlan) -> ChangePreview:
        """What changing to ``plan`` now would credit and charge, and the invoice it would create; changes
        nothing (a run that has not decided on invoices yet would issue them: see ``_invoices_on``)."""
        now = clock_now()
        proration = self.sub.preview_change(plan, now)
        notes = self.sub.change_coupon_notes(plan, now)
        return change_preview(self.sub, plan, proration, invoices=self._invoicing is not False, coupon_notes=notes)

    async def clock_sync(self, request: ClockSync) -> ClockPosition:
        """A test clock moved to ``request.now``: catch up with it, and answer when the run is idle again
        (``clock_idle``) with its next due time."""
        assert self.simulated_now is not None
        if request.now > self.simulated_now:
            self.simulated_now = request.now
            self._publish()
        if self.sub.adjustment_in_flight() and workflow.patched("clock-waits-for-upgrade-charge"):
            # An upgrade's charge asked a moment ago settles at the change's clock time, before the clock
            # passes anything else (a checkout or QR out for the customer does not hold the clock).
            await workflow.wait_condition(lambda: not self.sub.adjustment_in_flight())
        await workflow.wait_condition(self.clock_idle)
        awaiting = self.awaiting_customer()
        return ClockPosition(
            now=self.simulated_now,
            next_due=self.clock_due or (awaiting[1] if awaiting else None),
            handed_over=self.clock_handover,
            finished=self.clock_finished,
            awaiting_order=awaiting[0] if awaiting else None,
        )

    def validate_clock_sync(self, request: ClockSync) -> None:
        if self.simulated_now is None:
            raise rejected(
                InvalidStateError(
                    f"subscription {self.request.subscription_id} is not attached to a test clock", field="test_clock"
                )
            )

    def validate_preview(self, plan: SubscriptionPlan) -> None:
        try:
            self.sub.preview_change(plan, clock_now())
        except InputError as exc:
            raise rejected(exc) from exc
