"""SubscriptionWorkflow: one subscription for its whole life. Workflow id ``subscription-{id}``.

The Temporal entry point only: every handler delegates to :class:`workflows.subscription_logic.SubscriptionLogic`,
where the behaviour is described. A worker loads both modules once and every run shares them
(``worker.workflow_runner``); each run holds only its own ``SubscriptionLogic``.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

from billing.change_preview import ChangePreview
from billing.clocks import ClockPosition, ClockSync
from billing.credit_notes import RefundReport
from billing.gateway import (
    ManagementLink,
    PaymentEvent,
    SubscriptionChangeEvent,
    SubscriptionEvent,
    SubscriptionPlan,
)
from billing.invoices import CreditNote, Invoice
from billing.orders import OrderUpdate
from billing.subscriptions import (
    ApplyCouponRequest,
    CancelSubscriptionRequest,
    ChangePlanRequest,
    ManagementLinkRequest,
    PauseSubscriptionRequest,
    ResumeSubscriptionRequest,
    SubmitSubscription,
    Subscription,
    SubscriptionInput,
)
from workflows.subscription_logic import SubscriptionLogic


@workflow.defn(name="SubscriptionWorkflow")
class SubscriptionWorkflow:
    @workflow.init
    def __init__(self, start: SubscriptionInput) -> None:
        self.logic = SubscriptionLogic(start)

    @workflow.run
    async def run(self, start: SubscriptionInput) -> Subscription:
        return await self.logic.run()

    @workflow.signal
    def payment_event(self, event: PaymentEvent) -> None:
        self.logic.payment_event(event)

    @workflow.signal
    def subscription_event(self, event: SubscriptionEvent) -> None:
        self.logic.subscription_event(event)

    @workflow.signal
    def change_event(self, event: SubscriptionChangeEvent) -> None:
        self.logic.change_event(event)

    @workflow.signal
    def order_update(self, update: OrderUpdate) -> None:
        self.logic.order_update(update)

    @workflow.signal
    async def order_refunded(self, report: RefundReport) -> None:
        await self.logic.order_refunded(report)

    @workflow.signal
    def check_now(self) -> None:
        self.logic.check_now()

    @workflow.update
    async def submit(self, request: SubmitSubscription) -> Subscription:
        return await self.logic.submit(request)

    @submit.validator
    def _validate_submit(self, request: SubmitSubscription) -> None:
        self.logic.validate_submit(request)

    @workflow.update
    async def cancel(self, request: CancelSubscriptionRequest) -> Subscription:
        return await self.logic.cancel(request)

    @cancel.validator
    def _validate_cancel(self, request: CancelSubscriptionRequest) -> None:
        self.logic.validate_cancel(request)

    @workflow.update
    def pause(self, request: PauseSubscriptionRequest) -> Subscription:
        return self.logic.pause(request)

    @pause.validator
    def _validate_pause(self, request: PauseSubscriptionRequest) -> None:
        self.logic.validate_pause(request)

    @workflow.update
    def resume(self, request: ResumeSubscriptionRequest) -> Subscription:
        return self.logic.resume(request)

    @resume.validator
    def _validate_resume(self, request: ResumeSubscriptionRequest) -> None:
        self.logic.validate_resume(request)

    @workflow.update
    async def change_plan(self, request: ChangePlanRequest) -> Subscription:
        return await self.logic.change_plan(request)

    @change_plan.validator
    def _validate_change_plan(self, request: ChangePlanRequest) -> None:
        self.logic.validate_change_plan(request)

    @workflow.update
    def preview_change(self, plan: SubscriptionPlan) -> ChangePreview:
        return self.logic.preview_change(plan)

    @preview_change.validator
    def _validate_preview(self, plan: SubscriptionPlan) -> None:
        self.logic.validate_preview(plan)

    @workflow.update
    async def apply_coupon(self, request: ApplyCouponRequest) -> Subscription:
        return await self.logic.apply_coupon(request)

    @apply_coupon.validator
    def _validate_apply_coupon(self, request: ApplyCouponRequest) -> None:
        self.logic.validate_apply_coupon(request)

    @workflow.update
    async def management_link(self, request: ManagementLinkRequest) -> ManagementLink:
        return await self.logic.management_link(request)

    @management_link.validator
    def _validate_management_link(self, request: ManagementLinkRequest) -> None:
        self.logic.validate_management_link(request)

    @workflow.update
    async def clock_sync(self, request: ClockSync) -> ClockPosition:
        return await self.logic.clock_sync(request)

    @clock_sync.validator
    def _validate_clock_sync(self, request: ClockSync) -> None:
        self.logic.validate_clock_sync(request)

    @property
    def simulated_now(self) -> datetime | None:
        """The test clock's time for an attached run (``workflows.common.clock_now`` reads it)."""
        logic: SubscriptionLogic | None = getattr(self, "logic", None)  # None while the run is being built
        return logic.simulated_now if logic is not None else None

    @workflow.query
    def status(self) -> Subscription:
        return self.logic.status()

    @workflow.query
    def invoices(self) -> list[Invoice]:
        return self.logic.invoices()

    @workflow.query
    def credit_notes(self) -> list[CreditNote]:
        return self.logic.credit_notes()
