"""Manual capture in doubt: how often a lost capture or void is re-sent, and what an operator is told.

An AUTHORIZED order waits for the merchant's capture or cancel, or for the end of its capture window.
When a capture or a void gets no definite answer, the order workflow re-sends it with its original
request id (providers answer a repeat of the same request idempotently) and inquires; when that concludes
nothing within :data:`RESEND_LIMIT` attempts, the order goes to NEEDS_REVIEW with a reason built here: it
names the provider, the payment's request id and the provider's transaction, what to look for in the
provider's portal, and which resolution fits each finding. Pure functions, no I/O and no clock.
"""

from __future__ import annotations

from billing.orders import Order

#: Attempts to settle a capture or void whose answer was lost (each a re-send, after a wait from the
#: order's inquiry schedule) before an operator decides.
RESEND_LIMIT = 3


def _lookup(order: Order) -> str:
    transaction = f", transaction {order.provider_reference}" if order.provider_reference else ""
    return f"In the {order.provider} portal, look up referenceId {order.payment_key}{transaction}"


def capture_review_reason(order: Order, why: str) -> str:
    """A capture sent but not concluded: the money may be held or captured."""
    amount = order.capture_requested or order.authorized_amount or order.amount
    return (
        f"capture of {amount} not concluded: {why}. The money may be captured or still held. "
        f"{_lookup(order)}: captured (committed) -> resolve PAID; still held -> release the hold there "
        "and resolve CANCELLED; released -> resolve CANCELLED."
    )


def void_review_reason(order: Order, why: str) -> str:
    """A void (release of the hold) sent but not concluded: the hold may be released, open or captured."""
    captured = " A capture was sent earlier, so the money may have been captured." if order.captures_requested else ""
    return (
        f"void of the authorization of {order.authorized_amount or order.amount} not concluded: {why}.{captured} "
        f"{_lookup(order)}: released -> resolve CANCELLED; still held -> release it there and resolve "
        "CANCELLED; captured (committed) -> resolve PAID (refund it if it should not have been taken)."
    )
