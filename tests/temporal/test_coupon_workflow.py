"""CouponWorkflow on the real dev server: the redemption limit holds while the workflow continues as new
under 50 concurrent redemptions, and every target keeps its redemption across runs."""

from __future__ import annotations

import asyncio
import uuid

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import RestrictedWorkflowAccessError

from billing import errors
from billing.coupons import Coupon, CouponDuration, CouponState, RedeemCoupon, coupon_workflow_id
from starter.client import BillingClient
from worker import checking_workflow_runner
from workflows.coupons import CouponWorkflow


async def test_the_limit_holds_while_the_coupon_continues_as_new_under_concurrent_redemptions(
    dev_server_env: WorkflowEnvironment,
) -> None:
    client = dev_server_env.client
    queue = f"coupon-{uuid.uuid4().hex[:8]}"
    billing = BillingClient(client, task_queue=queue, merchant=f"m-{uuid.uuid4().hex[:8]}")
    coupon = Coupon(code="BUSY", percent_off_bp=1000, duration=CouponDuration.ONCE, max_redemptions=30)
    async with Worker(
        client,
        task_queue=queue,
        workflows=[CouponWorkflow],
        workflow_runner=checking_workflow_runner(),
        workflow_failure_exception_types=[RestrictedWorkflowAccessError],
    ):
        # A short history: the coupon's workflow continues as new several times during the burst.
        first = await client.start_workflow(
            CouponWorkflow.run,
            CouponState(coupon=coupon, history_limit=60),
            id=coupon_workflow_id(billing.merchant, "BUSY"),
            task_queue=queue,
        )
        results = await asyncio.gather(
            *(billing.redeem_coupon("busy", RedeemCoupon(target=f"order-{n}")) for n in range(50)),
            return_exceptions=True,
        )
        won = [r for r in results if not isinstance(r, BaseException)]
        refused = [r for r in results if isinstance(r, BaseException)]
        assert len(won) == 30, refused
        # Every other one refused for the limit, none lost to an Update the continuing run never processed.
        # Every other one refused for the limit, none lost to an Update the server did not admit (ten in flight
        # at most) or the continuing run never processed.
        assert all(isinstance(r, errors.InvalidStateError) and r.field == "max_redemptions" for r in refused), refused
        assert sorted(r.sequence for r in won) == list(range(1, 31))
        again = await asyncio.gather(*(billing.redeem_coupon("BUSY", RedeemCoupon(target=r.target)) for r in won))
        assert again == won, "each target keeps its redemption across runs"
        latest = client.get_workflow_handle(first.id)
        assert (await latest.describe()).run_id != first.result_run_id, "the run continued as new"
        state = await billing.get_coupon("BUSY")
        assert state.redeemed == 30 and state.history_limit == 60
        await latest.terminate("test done")
