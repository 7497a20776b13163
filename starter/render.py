"""How the CLI shows orders to people: compact tables, no personal data beyond the customer id."""

from __future__ import annotations

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from billing.orders import Order, OrderStatus, Refund

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


def print_order(console: Console, order: Order) -> None:
    console.print(order_table(order))
