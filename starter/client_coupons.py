"""The coupon methods of :class:`starter.client.BillingClient`: create, read, redeem and apply coupons.

Each coupon is one ``CouponWorkflow`` of the client's merchant (``BillingClient.merchant``, the worker's
``BILLING_WORKER_INVOICE_MERCHANT``), id ``coupon:{merchant}:{CODE}``. Refusals are the engine's own errors
with the field named (``redeem_by``, ``max_redemptions``, ``plan_id``, ``currency``, ``code``, ``coupon``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

from temporalio.client import Client, WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from activities.coupons import unprocessed
from billing import errors
from billing.coupons import Coupon, CouponState, RedeemCoupon, Redemption, coupon_workflow_id, discount
from billing.orders import CreateOrder, order_workflow_id
from billing.subscriptions import ApplyCouponRequest, StartSubscription, Subscription, subscription_workflow_id
from starter.client_resend import admitted, workflow_not_ready
from workflows.coupons import CouponWorkflow
from workflows.subscription import SubscriptionWorkflow

#: The first pause before an Update the coupon's run did not process is sent again (doubling up to a second,
#: for up to ``client_resend.NOT_READY_PATIENCE_S``).
UNPROCESSED_PAUSE = 0.05

if TYPE_CHECKING:
    from temporalio.workflow import UpdateMethodMultiParam


class CouponCommands:
    """Mixed into BillingClient, which provides ``temporal``, ``task_queue``, ``merchant`` and the readers."""

    temporal: Client
    task_queue: str
    merchant: str

    async def _read(self, workflow_id: str, query: Any, what: str, field: str) -> Any:
        raise NotImplementedError

    async def _subscription_update(
        self, subscription_id: str, update: UpdateMethodMultiParam[[Any, Any], Any], argument: Any
    ) -> Any:
        raise NotImplementedError

    def _refused(self, exc: WorkflowUpdateFailedError, subject: str) -> NoReturn:
        raise NotImplementedError

    async def create_coupon(self, coupon: Coupon) -> CouponState:
        """Create a coupon. The same definition again returns it; another under the same code is a
        ConflictError naming ``code``."""
        operation = WithStartWorkflowOperation(
            CouponWorkflow.run,
            CouponState(coupon=coupon),
            id=coupon_workflow_id(self.merchant, coupon.code),
            task_queue=self.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            static_summary=f"Coupon {coupon.code} · {coupon.describe()}",
        )
        try:
            return await self.temporal.execute_update_with_start_workflow(
                CouponWorkflow.define, coupon, start_workflow_operation=operation
            )
        except WorkflowUpdateFailedError as exc:
            self._refused(exc, f"coupon {coupon.code}")

    async def get_coupon(self, code: str) -> CouponState:
        """The coupon's definition and redemptions; NotFoundError naming ``coupon`` if there is none."""
        state: CouponState = await self._read(
            coupon_workflow_id(self.merchant, code), CouponWorkflow.state, f"coupon {code.upper()}", "coupon"
        )
        return state

    async def redeem_coupon(self, code: str, request: RedeemCoupon) -> Redemption:
        """Redeem for ``request.target``; the same target again gets its redemption back."""
        handle = self.temporal.get_workflow_handle(coupon_workflow_id(self.merchant, code))
        try:
            # An Update the run did not process (too many in flight, the run continuing as new, its task being
            # retried) is sent again: to the next run, and idempotent per target in any case.
            return await admitted(
                lambda: handle.execute_update(CouponWorkflow.redeem, request),
                resend_when=lambda exc: unprocessed(exc) or workflow_not_ready(exc),
                first_pause_s=UNPROCESSED_PAUSE,
                max_pause_s=1.0,
            )
        except WorkflowUpdateFailedError as exc:
            self._refused(exc, f"coupon {code.upper()}")
        except RPCError as exc:
            if exc.status is RPCStatusCode.NOT_FOUND:
                raise errors.NotFoundError(f"no coupon {code.strip().upper()}", field="coupon") from exc
            raise

    async def apply_coupon(self, subscription_id: str, code: str) -> Subscription:
        """Apply a coupon to a running subscription (engine modes) from its next period not billed yet."""
        subscription: Subscription = await self._subscription_update(
            subscription_id, SubscriptionWorkflow.apply_coupon, ApplyCouponRequest(code=code)
        )
        return subscription

    async def _exists(self, workflow_id: str) -> bool:
        """Whether a workflow ran under this id (open or closed): then a creation with the same id redeems
        nothing (a request that conflicts with it must not use up a redemption)."""
        try:
            await self.temporal.get_workflow_handle(workflow_id).describe()
        except RPCError as exc:
            if exc.status is RPCStatusCode.NOT_FOUND:
                return False
            raise
        return True

    async def _order_with_coupon(self, request: CreateOrder) -> CreateOrder:
        """The order to start for a request with a coupon: redeemed for the order id, at ``amount`` less the
        coupon's discount. Asking again gets the same amount, so the same order; an order that exists is
        not redeemed for (created without this coupon, it conflicts). A refusal names ``coupon.<field>``; a
        coupon that would leave nothing to charge is refused before it is redeemed, naming ``coupon``."""
        if request.coupon is None:
            return request
        try:
            state = await self.get_coupon(request.coupon)
            off = discount(state.coupon, request.amount)
            if off >= request.amount:
                raise errors.InputError(
                    f"coupon {state.coupon.code} takes the whole {request.amount} off; there is nothing to charge",
                    field="coupon",
                )
            if not await self._exists(order_workflow_id(request.order_id)):
                asked = RedeemCoupon(target=request.order_id, currency=request.amount.currency)
                await self.redeem_coupon(request.coupon, asked)
        except errors.InputError as exc:
            raise _about_coupon(exc) from exc
        return request.model_copy(update={"amount": request.amount - off})

    async def _redeem_for_subscription(self, request: StartSubscription) -> None:
        """Before a subscription with a coupon starts: redeem it for the subscription, so a refusal stops the
        creation with its field named (``coupon.<field>``) and nothing starts."""
        if request.coupon is None or await self._exists(subscription_workflow_id(request.subscription_id)):
            # It exists: its submit answers (the same request, or a conflict), and nothing is redeemed here.
            return
        asked = RedeemCoupon(
            target=request.subscription_id, plan_id=request.plan.plan_id, currency=request.plan.amount.currency
        )
        try:
            await self.redeem_coupon(request.coupon, asked)
        except errors.InputError as exc:
            raise _about_coupon(exc) from exc


def _about_coupon(exc: errors.InputError) -> errors.InputError:
    """The same refusal, its field named under ``coupon`` (``coupon.max_redemptions``)."""
    field = "coupon" if exc.field in (None, "coupon") else f"coupon.{exc.field}"
    return type(exc)(exc.reason, field=field)
