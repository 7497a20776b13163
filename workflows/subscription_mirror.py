"""Provider-managed mode (native subscriptions): the provider charges every period, the engine mirrors it.

The run creates the subscription at the provider, waits for the customer's authorization, then mirrors
each period from the provider's notifications, with a deadline per period after which it inquires. Plan
changes and cancellations are asked of the provider. Workflow code.
"""

from __future__ import annotations

from temporalio.exceptions import ActivityError

from activities.subscriptions import (
    CancelSubscriptionCall,
    ChangeSubscriptionCall,
    CreateSubscriptionCall,
    ManageSubscriptionCall,
    SubscriptionActivities,
)
from billing.errors import InconclusiveCallError, InvalidStateError
from billing.gateway import (
    CancelSubscription,
    ChangeOutcome,
    ChangeStatus,
    ChangeSubscription,
    CreateSubscription,
    ManagementLink,
    ManageSubscription,
    PaymentEvent,
    SubscriptionChangeEvent,
    SubscriptionEvent,
    SubscriptionRef,
)
from billing.subscriptions import (
    ManagementLinkRequest,
    PendingChange,
    SubscriptionStatus,
)
from workflows.common import (
    INQUIRY_RETRY,
    MONEY_RETRY,
    clock_now,
    describe,
    rejected,
)
from workflows.subscription_invoicing import Invoicing

#: Inquiries after the authorization window before giving the subscription up as never activated.
ACTIVATION_INQUIRY_LIMIT = 6


class ProviderMirror(Invoicing):
    """The provider bills each period; the run mirrors its statements."""

    async def _create_at_provider(self) -> None:
        call = CreateSubscriptionCall(
            provider=self.request.provider,
            subscription_id=self.request.subscription_id,
            request=CreateSubscription(
                idempotency_key=self.sub.request_key,
                merchant_subscription_id=self.request.subscription_id,
                plan=self.request.plan,
                customer=self.request.customer,
                success_url=self.request.success_url,
                failure_url=self.request.failure_url,
                cancel_url=self.request.cancel_url,
                expires_at=self.sub.activation_deadline,
                requested_at=self.sub.created_at,
            ),
        )
        try:
            outcome = await self._call(
                SubscriptionActivities.create, call, retry=MONEY_RETRY, summary="create subscription"
            )
            self._apply_status(outcome, "provider.create")
        except InconclusiveCallError as exc:
            # Never a second subscription: the same request id is inquired until the provider answers.
            self.sub.note(clock_now(), "outcome_unknown", str(exc))
        except ActivityError as exc:
            self.sub.move(SubscriptionStatus.CANCELLED, clock_now(), "provider.create", describe(exc))
        finally:
            self.created = True

    async def _await_activation(self) -> None:
        """INCOMPLETE: wait for the first payment; after the window, inquire until the provider closes it."""
        now = clock_now()
        deadline = self.sub.activation_deadline
        wait = self.policy.inquiry_wait(self.inquiries) if now >= deadline else deadline - now
        if await self._statement_within(wait, "await first payment"):
            return
        await self._inquire()
        if (
            self.sub.status is SubscriptionStatus.INCOMPLETE
            and clock_now() >= deadline
            and self.inquiries >= ACTIVATION_INQUIRY_LIMIT
        ):
            self.sub.move(
                SubscriptionStatus.CANCELLED,
                clock_now(),
                "activation",
                f"no first payment after {self.inquiries} inquiries past the authorization window",
            )
            self._publish()

    async def _mirror_period(self) -> None:
        """ACTIVE / PAST_DUE: wait for the next period's statement; inquire when it is overdue."""
        sub = self.sub
        now = clock_now()
        window = sub.current_period_window()
        change = sub.pending_change
        if change is not None and change.scheduled and window is not None:
            send_at = max(window.start, window.end - self.policy.change_lead)
            if now >= send_at:
                await self._send_change(change)
                return
            await self._statement_within(send_at - now, f"plan change to {change.plan.plan_id} at period end")
            return
        if sub.cancel_at_period_end and window is not None:
            if now >= window.end:
                await self._cancel_at_provider("at period end")
                return
            await self._statement_within(window.end - now, "cancel at period end")
            return
        if sub.next_billing_at is None:
            # Fixed term done: the provider's EXPIRED statement is due at the end of the last period.
            end = window.end if window is not None else now
            due = end + self.policy.renewal_grace
        else:
            due = sub.next_billing_at + self.policy.renewal_grace
        if now < due:
            if await self._statement_within(due - now, f"await period {sub.current_period + 1}"):
                return
        elif await self._statement_within(self.policy.inquiry_wait(self.inquiries), "renewal overdue"):
            return
        await self._inquire()
        if (
            sub.status is SubscriptionStatus.ACTIVE
            and sub.next_billing_at is not None
            and (clock_now() >= sub.next_billing_at + self.policy.renewal_grace)
        ):
            sub.move(
                SubscriptionStatus.PAST_DUE,
                clock_now(),
                "renewal_overdue",
                f"no statement for period {sub.current_period + 1}",
            )
            self._publish()

    async def _cancel_at_provider(self, why: str) -> None:
        request = CancelSubscription(subscription=self._ref(), requested_at=clock_now())
        try:
            outcome = await self._call(
                SubscriptionActivities.cancel,
                CancelSubscriptionCall(provider=self.request.provider, request=request),
                retry=MONEY_RETRY,
                summary=f"cancel subscription ({why})",
            )
        except (InconclusiveCallError, ActivityError) as exc:
            self.sub.note(clock_now(), "provider.cancel", f"no answer: {describe(exc)}; inquiring")
            await self._inquire()
            return
        if outcome.failure is not None and not self.sub.is_final:
            self.sub.note(
                clock_now(),
                "provider.cancel",
                f"refused: {outcome.failure.code} {outcome.failure.message}",
            )
            await self._inquire()
            return
        self._apply_status(outcome, "provider.cancel")

    def payment_event(self, event: PaymentEvent) -> None:
        """A verified charge attempt for one of this subscription's periods."""
        if self._duplicate(event.event_key):
            return
        reference = event.outcome.subscription_reference
        change = self.sub.pending_change
        if change is not None and reference and reference == change.provider_reference:
            self.sub.note(clock_now(), "notification", f"plan change charge: {event.outcome.provider_status}")
            return
        if reference and self.sub.provider_reference and reference != self.sub.provider_reference:
            self.sub.note(clock_now(), "notification", "payment of an earlier generation: recorded only")
            return
        self.sub.apply_period_payment(event.outcome, source="notification", at=clock_now())
        self._grant()
        self._publish()

    def subscription_event(self, event: SubscriptionEvent) -> None:
        """A verified statement about the subscription (status change, period changed)."""
        if self._duplicate(event.event_key):
            return
        self._apply_status(event.outcome, f"notification.{event.event_type.value.lower()}")

    async def _send_change(self, change: PendingChange) -> None:
        """Ask the provider for the new generation, crediting the unused part of the current period."""
        now = clock_now()
        if change.proration is None:
            change.proration = self.sub.preview_change(change.plan, now)
        change.scheduled = False
        proration = change.proration
        self.sub.note(
            now,
            "change_requested",
            f"to {change.plan.plan_id}: credit {proration.credit}, charge {proration.charge}, net {proration.net}",
        )
        request = ChangeSubscription(
            idempotency_key=change.request_key,
            original=SubscriptionRef(
                idempotency_key=self.sub.request_key, provider_reference=self.sub.provider_reference
            ),
            merchant_subscription_id=self.request.subscription_id,
            new_plan=change.plan,
            remaining_credit=-proration.credit,
            customer=self.request.customer,
            success_url=self.request.success_url,
            failure_url=self.request.failure_url,
            cancel_url=self.request.cancel_url,
            requested_at=change.requested_at,
        )
        try:
            outcome = await self._call(
                SubscriptionActivities.change,
                ChangeSubscriptionCall(
                    provider=self.request.provider, subscription_id=self.request.subscription_id, request=request
                ),
                retry=MONEY_RETRY,
                summary=f"change plan to {change.plan.plan_id}",
            )
        except (InconclusiveCallError, ActivityError) as exc:
            self.sub.note(clock_now(), "provider.change", f"no answer: {describe(exc)}; inquiring")
            return
        self._apply_change(outcome, "provider.change")

    def _apply_change(self, outcome: ChangeOutcome, source: str) -> None:
        change = self.sub.pending_change
        if change is None or (outcome.idempotency_key and outcome.idempotency_key != change.request_key):
            self.sub.note(clock_now(), source, f"change statement for no pending change: {outcome.provider_status}")
            return
        change.provider_reference = outcome.provider_reference or change.provider_reference
        change.customer_action = outcome.customer_action or change.customer_action
        if outcome.status is ChangeStatus.CLOSED:
            self.sub.pending_change = None
            failure = f": {outcome.failure.code} {outcome.failure.message}" if outcome.failure else ""
            self.sub.note(clock_now(), source, f"plan change to {change.plan.plan_id} closed{failure}")
        elif outcome.status is ChangeStatus.SUCCEEDED:
            self.sub.complete_change(clock_now(), clock_now(), source)
            self._grant()
        else:
            self.sub.note(
                clock_now(),
                source,
                f"plan change {outcome.provider_status or 'pending'}"
                + (": the customer must authorize it" if change.customer_action else ""),
            )
        self._publish()

    def change_event(self, event: SubscriptionChangeEvent) -> None:
        """A verified statement about a plan change."""
        if self._duplicate(event.event_key):
            return
        self._apply_change(event.outcome, "notification.change")

    async def management_link(self, request: ManagementLinkRequest) -> ManagementLink:
        """A short-lived URL where the customer manages the subscription at the provider."""
        try:
            link: ManagementLink = await self._call(
                SubscriptionActivities.manage,
                ManageSubscriptionCall(
                    provider=self.request.provider, request=ManageSubscription(subscription=self._ref())
                ),
                retry=INQUIRY_RETRY,
                summary="management link",
            )
            return link
        except (InconclusiveCallError, ActivityError) as exc:
            raise rejected(InvalidStateError(f"the provider gave no management link: {describe(exc)}")) from exc

    def validate_management_link(self, request: ManagementLinkRequest) -> None:
        if self.sub.status not in (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE):
            raise rejected(
                InvalidStateError(f"only an ACTIVE subscription has a management link; it is {self.sub.status}")
            )
