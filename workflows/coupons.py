"""CouponWorkflow: one coupon of one merchant, its definition and every redemption. Workflow id
``coupon:{merchant}:{CODE}`` (``billing.coupons.coupon_workflow_id``).

``define(coupon)`` (an Update, sent with update-with-start by ``BillingClient.create_coupon``) creates it;
the same definition again returns it, another is a ConflictError naming ``code``. ``redeem(request)``
(an Update) redeems it for one target (a subscription or an order id) by the rules of
:mod:`billing.coupons`: idempotent per target, refused after ``redeem_by``, past ``max_redemptions``,
for a plan outside ``plans`` or another currency than an amount-off coupon's.

Why limits hold under concurrent redemptions: every redemption is applied by this one workflow, and its
handler does not ``await`` between the check and the record, so two redemptions never interleave. The
validator checks first (a refusal then adds nothing to the history), and the handler checks again,
because the validators of updates delivered in one activation all run before any handler.

The run continues as new past a history length (or when the server suggests it), after all handlers
finished, carrying the definition and the redemptions (each target must keep its redemption). Workflow code.
"""

from __future__ import annotations

from temporalio import workflow

from billing.coupons import (
    Coupon,
    CouponState,
    RedeemCoupon,
    Redemption,
    check_redeemable,
    redeem,
    same_definition,
)
from billing.errors import InputError
from workflows.common import clock_now, rejected

__all__ = ["CouponWorkflow"]


@workflow.defn(name="CouponWorkflow")
class CouponWorkflow:
    @workflow.init
    def __init__(self, state: CouponState) -> None:
        # Taken here, not in run: the update that starts the workflow runs before run does.
        self._state = state

    @workflow.run
    async def run(self, state: CouponState) -> None:
        await workflow.wait_condition(
            lambda: (
                workflow.info().get_current_history_length() > self._state.history_limit
                or workflow.info().is_continue_as_new_suggested()
            )
        )
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(self._state)

    @workflow.update
    def define(self, coupon: Coupon) -> CouponState:
        return self._state

    @define.validator
    def _check_define(self, coupon: Coupon) -> None:
        try:
            same_definition(self._state.coupon, coupon)
        except InputError as exc:
            raise rejected(exc) from exc

    @workflow.update
    def redeem(self, request: RedeemCoupon) -> Redemption:
        try:
            return redeem(self._state, request, clock_now())
        except InputError as exc:
            raise rejected(exc) from exc

    @redeem.validator
    def _check_redeem(self, request: RedeemCoupon) -> None:
        try:
            check_redeemable(self._state, request, clock_now())
        except InputError as exc:
            raise rejected(exc) from exc

    @workflow.query
    def state(self) -> CouponState:
        return self._state
