"""Coupons on a subscription (engine modes): redeemed at creation or later, discounting the periods they cover.

The coupon's own workflow (``workflows/coupons.py``) decides every redemption; this run asks it through the
``coupons.redeem`` activity with the subscription id as the target, so a retried command, a retried
activity or a replay gets the same redemption back and never takes a second one. The redemption applied
is stored on the subscription (``Subscription.coupon``) with the first period it covers; the engine then
prices each covered period with its discount (``Subscription.period_discount``), shown as a ``discount``
line on the period's invoice.

Old histories: nothing here runs without a coupon in the start request or an ``apply_coupon`` Update,
neither of which a history from before coupons holds, so those histories replay unchanged. Workflow code.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from activities.coupons import CouponActivities, RedeemCall
from billing.coupons import AppliedCoupon, RedeemCoupon, Redemption
from billing.errors import ERRORS, InputError, InvalidStateError
from billing.subscriptions import ENGINE_MODES, ApplyCouponRequest, Subscription, SubscriptionInput
from workflows.common import clock_now, rejected
from workflows.subscription_run import SubscriptionRun

#: A redemption only asks the coupon's workflow: retried until it answers; a refusal is not retried.
REDEEM_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))


class SubscriptionCoupons(SubscriptionRun):
    """The coupon of one subscription: redeemed once, applied from a period on."""

    def __init__(self, start: SubscriptionInput) -> None:
        super().__init__(start)
        #: A redemption is in flight (an ``apply_coupon`` waiting for the coupon's answer).
        self._redeeming: str | None = None

    async def _coupon_at_start(self) -> None:
        """The coupon named at creation covers the subscription from its first period. The client redeemed
        it before starting the subscription (a refusal stops the creation there); this asks again, for the
        same target, and gets that redemption back."""
        code = self.request.coupon
        if code is None or self.sub.coupon is not None:
            return
        try:
            redemption = await self._redeem(code)
        except InputError as exc:
            self.sub.note(clock_now(), "coupon", f"{code.upper()} not applied: {exc}")
            return
        self._apply(redemption, first_period=1)

    async def _redeem(self, code: str) -> Redemption:
        request = RedeemCoupon(
            target=self.sub.subscription_id, plan_id=self.sub.plan.plan_id, currency=self.sub.plan.amount.currency
        )
        try:
            redemption: Redemption = await workflow.execute_activity_method(
                CouponActivities.redeem,
                RedeemCall(code=code, request=request),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=REDEEM_RETRY,
                summary=f"redeem coupon {code.upper()}",
            )
        except ActivityError as exc:
            cause = exc.cause
            if isinstance(cause, ApplicationError) and cause.type in ERRORS:
                error = ERRORS[cause.type]
                if issubclass(error, InputError):
                    field = cause.details[0] if cause.details and isinstance(cause.details[0], str) else None
                    raise error(cause.message, field=field) from exc
            raise
        return redemption

    def _apply(self, redemption: Redemption, *, first_period: int) -> None:
        applied = AppliedCoupon(redemption=redemption, first_period=first_period)
        self.sub.coupon = applied
        last = applied.last_period()
        until = f" to {last}" if last is not None else " on"
        self.sub.note(
            clock_now(),
            "coupon",
            f"{redemption.coupon.code}: {redemption.coupon.describe()}, periods {first_period}{until}",
        )

    def _next_unbilled_period(self) -> int:
        """The first period whose invoice is not issued yet: the one after the current calendar period (a
        period's invoice is issued when it starts), and never one already billed."""
        sub = self.sub
        current = 0
        if sub.calendar is not None:
            window = sub.calendar.period_at(clock_now())
            current = window.number if window is not None else 0
        return max(current, sub.current_period) + 1

    async def apply_coupon(self, request: ApplyCouponRequest) -> Subscription:
        """Apply a coupon from the next period not billed yet. The same code again is a no-op."""
        try:
            if self._check_apply(request):
                return self.sub
        except InputError as exc:
            raise rejected(exc) from exc
        self._redeeming = request.code.upper()
        try:
            redemption = await self._redeem(request.code)
        except InputError as exc:
            raise rejected(exc) from exc
        finally:
            self._redeeming = None
        self._apply(redemption, first_period=self._next_unbilled_period())
        self._publish()
        return self.sub

    def validate_apply_coupon(self, request: ApplyCouponRequest) -> None:
        try:
            self._check_apply(request)
        except InputError as exc:
            raise rejected(exc) from exc

    def _check_apply(self, request: ApplyCouponRequest) -> bool:
        """True when this coupon is already applied (nothing to do); InputError naming the field if refused."""
        sub = self.sub
        code = request.code.strip().upper()
        if sub.coupon is not None and sub.coupon.coupon.code == code:
            return True
        if sub.mode not in ENGINE_MODES:
            raise InvalidStateError(
                f"{sub.provider} charges the plan's price itself in {sub.mode.value} billing; "
                "coupons apply in engine modes",
                field="coupon",
            )
        if sub.is_final:
            raise InvalidStateError(f"the subscription is {sub.status}", field="subscription_id")
        if sub.coupon is not None:
            raise InvalidStateError(f"coupon {sub.coupon.coupon.code} is already applied", field="coupon")
        if self._redeeming is not None:
            raise InvalidStateError(f"coupon {self._redeeming} is being applied", field="coupon")
        return False
