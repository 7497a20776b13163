"""An invoice order reports each refund that SUCCEEDED to the workflow that issued it. Workflow code.

An order with an issuer (``CreateOrder.notify_workflow_id``: a subscription's invoice order) signals
``order_refunded`` (:class:`billing.credit_notes.RefundReport`) once per refund that SUCCEEDED, from its
main line while it stays open for refunds; the subscription issues a credit note for it
(``workflows/credit_notes.py``). A refund pending, unknown, failed or in review is not reported. Orders
that started before this report replay without it (patch ``report-refunds-to-issuer``). Kept apart from
the subscription's modules: an order run imports only what it uses.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import FailureError

from billing.credit_notes import ORDER_REFUNDED_SIGNAL, RefundReport
from billing.orders import Order, RefundState
from workflows.common import clock_now

#: Orders that started before they reported refunds to their issuer replay without the signals.
REPORT_REFUNDS_PATCH = "report-refunds-to-issuer"


async def report_refunds(order: Order, target: str | None, reported: set[str]) -> None:
    """Tell the issuing workflow about each refund of ``order`` that SUCCEEDED and was not reported yet."""
    if target is None:
        return
    for refund in order.refunds:
        if refund.status is not RefundState.SUCCEEDED or refund.refund_id in reported:
            continue
        if not workflow.patched(REPORT_REFUNDS_PATCH):
            return
        reported.add(refund.refund_id)
        report = RefundReport(
            order_id=order.order_id, refund_id=refund.refund_id, amount=refund.amount, reason=refund.reason
        )
        try:
            await workflow.get_external_workflow_handle(target).signal(ORDER_REFUNDED_SIGNAL, report)
        except FailureError as exc:
            # The issuer has closed: it keeps no document to credit any more.
            order.note(clock_now(), "issuer", f"could not report refund {refund.refund_id} to {target}: {exc}")
