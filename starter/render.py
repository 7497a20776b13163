"""How the CLI shows orders to people: compact tables, no personal data beyond the customer id."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from billing.events import MerchantEvent
from billing.money import Money
from billing.orders import Order, OrderStatus, Refund
from billing.subscriptions import Subscription, SubscriptionStatus

if TYPE_CHECKING:
    from starter.replay import ReplayOutcome

_STATUS_STYLE = {
    OrderStatus.PAID: "bold green",
    OrderStatus.PARTIALLY_REFUNDED: "green",
    OrderStatus.REFUNDED: "cyan",
    OrderStatus.FAILED: "bold red",
    OrderStatus.EXPIRED: "red",
    OrderStatus.CANCELLED: "red",
    OrderStatus.NEEDS_REVIEW: "bold magenta",
    OrderStatus.UNKNOWN: "yellow",
}


def status_text(status: OrderStatus) -> Text:
    return Text(status.value, style=_STATUS_STYLE.get(status, "yellow"))


def order_table(order: Order) -> Group:
    summary = Table(show_header=False, box=None, pad_edge=False)
    summary.add_column(style="bold")
    summary.add_column()
    summary.add_row("Order", order.order_id)
    summary.add_row("Status", status_text(order.status))
    summary.add_row("Amount", str(order.amount))
    if order.captured_amount is not None and order.captured_amount != order.amount:
        summary.add_row("Captured", str(order.captured_amount))
    summary.add_row("Refunded", str(order.refunded))
    summary.add_row("Refundable", str(order.refundable))
    summary.add_row("Provider", order.provider)
    summary.add_row("Customer", order.customer_id)
    summary.add_row("Capture", order.capture_mode.value.lower())
    summary.add_row("Request id", order.payment_key)
    if order.provider_reference:
        summary.add_row("Provider ref", order.provider_reference)
    waiting = order.status in (OrderStatus.CREATED, OrderStatus.PENDING, OrderStatus.UNKNOWN)
    if waiting and order.customer_action is not None and (order.customer_action.url or order.customer_action.qr):
        summary.add_row("Pay at", order.customer_action.url or order.customer_action.qr or "")
    if order.failure is not None:
        summary.add_row("Failure", f"{order.failure.code} {order.failure.message}")
    if order.late_payment:
        summary.add_row("Late", "paid after the order was closed")
    if order.review is not None:
        review = order.review
        text = review.reason
        if review.resolved_by:
            text += f" — resolved by {review.resolved_by}: {review.resolution_reason}"
        summary.add_row("Review", text)
    parts: list[Table] = [summary]
    if order.refunds:
        parts.append(refunds_table(order.refunds))
    timeline = Table(title="Timeline", title_justify="left")
    for column in ("At (UTC)", "Event", "Status", "Detail"):
        timeline.add_column(column)
    for entry in order.timeline:
        timeline.add_row(
            entry.at.strftime("%Y-%m-%d %H:%M:%S"),
            entry.event,
            entry.status.value if entry.status else "",
            entry.detail,
        )
    parts.append(timeline)
    return Group(*parts)


def refunds_table(refunds: list[Refund]) -> Table:
    table = Table(title="Refunds", title_justify="left")
    for column in ("Refund", "Amount", "Status", "Reason"):
        table.add_column(column)
    for refund in refunds:
        table.add_row(refund.refund_id, str(refund.amount), refund.status.value, refund.reason or "")
    return table


def qr_text(data: str) -> str:
    """A QR code drawn with block characters, scannable from a terminal."""
    import io

    import qrcode

    code = qrcode.QRCode(border=1)
    code.add_data(data)
    out = io.StringIO()
    code.print_ascii(out=out, invert=True)
    return out.getvalue()


def print_order(console: Console, order: Order) -> None:
    console.print(order_table(order))
    action = order.customer_action
    waiting = order.status in (OrderStatus.CREATED, OrderStatus.PENDING, OrderStatus.UNKNOWN)
    if waiting and action is not None and action.qr:
        console.print("Scan to pay:")
        console.print(qr_text(action.qr), highlight=False, markup=False)


def print_subscription(console: Console, subscription: Subscription) -> None:
    summary = Table(show_header=False, box=None, pad_edge=False)
    summary.add_column(style="bold")
    summary.add_column()
    plan = subscription.plan
    every = f"{plan.interval_count} {plan.interval.value}s" if plan.interval_count > 1 else plan.interval.value
    summary.add_row("Subscription", subscription.subscription_id)
    summary.add_row(
        "Status", Text(subscription.status.value, style=_SUBSCRIPTION_STYLE.get(subscription.status, "yellow"))
    )
    summary.add_row(
        "Plan", f"{plan.plan_id}: {plan.amount} per {every}" + (f", {plan.periods} periods" if plan.periods else "")
    )
    summary.add_row("Provider", f"{subscription.provider} ({subscription.mode.value.replace('_', '-')})")
    summary.add_row("Customer", subscription.customer_id)
    summary.add_row("Request id", subscription.request_key)
    if subscription.provider_reference:
        summary.add_row("Provider ref", subscription.provider_reference)
    if subscription.status.value == "INCOMPLETE" and subscription.customer_action and subscription.customer_action.url:
        summary.add_row("Authorize at", subscription.customer_action.url)
    if subscription.next_billing_at:
        summary.add_row("Next billing", subscription.next_billing_at.strftime("%Y-%m-%d %H:%M UTC"))
    if subscription.cancel_at_period_end:
        summary.add_row("Cancels", "at the end of the current period")
    change = subscription.pending_change
    if change is not None:
        when = "at period end" if change.scheduled else "in progress"
        summary.add_row("Plan change", f"to {change.plan.plan_id} ({change.plan.amount}) {when}")
        if change.customer_action is not None and change.customer_action.url:
            summary.add_row("Authorize at", change.customer_action.url)
    if subscription.cancelled_by:
        summary.add_row("Cancelled by", subscription.cancelled_by.value.lower())
    periods = Table(title="Periods", title_justify="left")
    for column in ("Plan", "#", "From", "To", "Amount", "Status", "Attempts", "Granted", "Invoice"):
        periods.add_column(column)
    for record in subscription.periods:
        periods.add_row(
            str(record.generation),
            str(record.number),
            record.start.strftime("%Y-%m-%d") if record.start else "",
            record.end.strftime("%Y-%m-%d") if record.end else "",
            str(record.amount) if record.amount else "",
            record.status.value,
            str(record.attempts),
            "yes" if record.granted else "",
            record.checkout_url if record.checkout_url and record.status.value != "PAID" else (record.order_id or ""),
        )
    timeline = Table(title="Timeline", title_justify="left")
    for column in ("At (UTC)", "Event", "Status", "Detail"):
        timeline.add_column(column)
    for entry in subscription.timeline:
        timeline.add_row(
            entry.at.strftime("%Y-%m-%d %H:%M:%S"),
            entry.event,
            entry.status.value if entry.status else "",
            entry.detail,
        )
    console.print(Group(summary, periods, timeline))


_SUBSCRIPTION_STYLE = {
    SubscriptionStatus.ACTIVE: "bold green",
    SubscriptionStatus.TRIALING: "green",
    SubscriptionStatus.PAST_DUE: "bold yellow",
    SubscriptionStatus.UNPAID: "bold red",
    SubscriptionStatus.CANCELLED: "red",
    SubscriptionStatus.EXPIRED: "cyan",
}


def event_line(event: MerchantEvent, *, short_id: bool = False) -> Text:
    """One merchant event as a console line: type, object, sequence, status and amount when present."""
    line = Text()
    line.append(f"{event.created:%H:%M:%S} ", style="dim")
    line.append(f"{event.type:<26}", style="bold")
    line.append(f" {event.object_id} #{event.sequence}")
    status = event.data.get("status")
    if isinstance(status, str):
        line.append(f"  {status}")
    amount = event.data.get("amount")
    if isinstance(amount, dict) and {"amount_minor", "currency"} <= amount.keys():
        line.append(f"  {Money(amount_minor=amount['amount_minor'], currency=amount['currency'])}")
    line.append(f"  {event.id[:12]}…" if short_id else f"  {event.id}", style="dim")
    return line


def replay_table(outcomes: list[ReplayOutcome]) -> Table:
    """One row per replayed history: where it diverges from this code, if it does."""
    failed = sum(not outcome.ok for outcome in outcomes)
    table = Table(title=f"Replay: {len(outcomes)} histories, {failed} failed", title_justify="left")
    for column in ("Workflow", "Type", "Events", "Result", "First diverging event"):
        table.add_column(column, overflow="fold")
    for outcome in outcomes:
        if outcome.ok:
            result, where = Text("ok", style="green"), ""
        else:
            result = Text("nondeterministic" if outcome.nondeterministic else "failed", style="bold red")
            where = f"{outcome.event_id} {outcome.event_type or ''}".strip() if outcome.event_id else ""
            where = f"{where}\n{outcome.error}" if where else outcome.error or ""
        table.add_row(outcome.workflow_id, outcome.workflow_type, str(outcome.events), result, where)
    return table
