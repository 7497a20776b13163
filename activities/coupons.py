"""Coupon redemptions from a workflow: the ``coupons.redeem`` activity sends the coupon's ``redeem`` Update.

A workflow cannot send an Update to another workflow itself; this activity does, for the worker's merchant
(``BILLING_WORKER_INVOICE_MERCHANT``: the same merchant whose invoices it numbers). Redemptions are
idempotent per target, so a retried activity, a replay or a worker crash gets the same redemption back and
never takes a second one. A refusal (expired, over the limit, another plan, no such coupon) is an InputError
that is not retried: the calling workflow refuses the merchant's command with it, field included.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field
from temporalio import activity
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.errors import NOT_FOUND
from billing.coupons import RedeemCoupon, Redemption, coupon_workflow_id
from billing.errors import NotFoundError

COUPON_WORKFLOW = "CouponWorkflow"
#: The server's answer to an Update that reached a workflow task which ended the run (the coupon continuing as
#: new) before the handler ran: nothing happened, and the same Update to the next run is the whole remedy.
UNPROCESSED_UPDATE = "UnprocessedUpdate"


#: What the server answers an Update it did not admit or dropped unprocessed: too many in flight on the run
#: (``RESOURCE_EXHAUSTED``), or aborted when the run closed to continue as new (``UNAVAILABLE``).
NOT_ADMITTED = frozenset({RPCStatusCode.RESOURCE_EXHAUSTED, RPCStatusCode.UNAVAILABLE})


def unprocessed(exc: BaseException) -> bool:
    """The Update was not processed by the coupon's run (``UNPROCESSED_UPDATE``, ``NOT_ADMITTED``): safe to
    send again, and a redemption is idempotent per target anyway."""
    if isinstance(exc, WorkflowUpdateFailedError):
        return isinstance(exc.cause, ApplicationError) and exc.cause.type == UNPROCESSED_UPDATE
    return isinstance(exc, RPCError) and exc.status in NOT_ADMITTED


class RedeemCall(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = Field(min_length=1, max_length=64)
    request: RedeemCoupon


class CouponActivities:
    def __init__(self, client: Client, merchant: str) -> None:
        self.client = client
        self.merchant = merchant

    def all(self) -> list[Callable[..., object]]:
        return [self.redeem]

    @activity.defn(name="coupons.redeem")
    async def redeem(self, call: RedeemCall) -> Redemption:
        handle = self.client.get_workflow_handle(coupon_workflow_id(self.merchant, call.code))
        try:
            redemption: Redemption = await handle.execute_update("redeem", call.request, result_type=Redemption)
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            if unprocessed(exc):
                # Never processed (the run was continuing as new): Temporal retries the activity.
                raise ApplicationError(str(cause), type=UNPROCESSED_UPDATE, non_retryable=False) from exc
            if isinstance(cause, ApplicationError) and cause.non_retryable:
                # The coupon refused it (its error type and field): final, as the client would see it.
                raise ApplicationError(cause.message, *cause.details, type=cause.type, non_retryable=True) from exc
            raise
        except RPCError as exc:
            if exc.status is RPCStatusCode.NOT_FOUND:
                missing = NotFoundError(f"no coupon {call.code.strip().upper()}", field="coupon")
                raise ApplicationError(missing.reason, missing.field, type=NOT_FOUND, non_retryable=True) from exc
            raise
        return redemption
