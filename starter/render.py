"""How the CLI shows orders to people: compact tables, no personal data beyond the customer id.

A URL, an id, an amount or a date is never cut or wrapped, whatever the terminal width and when piped:
key-value lines are printed unwrapped (:func:`print_fields`) and tables widen past the terminal rather
than shorten those columns (:func:`print_table`); only free text such as a timeline detail wraps.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from fractions import Fraction
from typing import TYPE_CHECKING

from rich.console import Console, RenderableType
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from billing.events import MerchantEvent
from billing.gateway import ProviderFailure
from billing.money import Money
from billing.orders import Order, OrderStatus, Refund
from billing.orders import TimelineEntry as OrderTimelineEntry
from billing.subscriptions import Subscription, SubscriptionStatus
from billing.subscriptions import TimelineEntry as SubscriptionTimelineEntry

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


Field = tuple[str, "str | Text"]


def print_fields(console: Console, fields: Iterable[Field]) -> None:
    """``Key         value`` lines, each printed whole on one line (no wrapping, no cropping)."""
    rows = list(fields)
    width = max((len(key) for key, _ in rows), default=0) + 2
    for key, value in rows:
        line = Text(key.ljust(width), style="bold")
        line.append_text(value if isinstance(value, Text) else Text(value))
        console.print(line, soft_wrap=True, highlight=False)


def _cell_width(cell: RenderableType) -> int:
    text = cell.plain if isinstance(cell, Text) else str(cell)
    return max((len(line) for line in text.splitlines()), default=0)


def print_table(console: Console, table: Table, wrap: Sequence[str] = ()) -> None:
    """Print ``table`` with every column but those named in ``wrap`` whole: wider than the terminal if need be."""
    for column in table.columns:
        if column.header in wrap:
            continue
        column.no_wrap = True
        column.overflow = "ignore"
        column.min_width = max(_cell_width(cell) for cell in [column.header, *column.cells])
    needed = Measurement.get(console, console.options.update_width(100_000), table).minimum
    options = console.options.update_width(max(console.width, needed))
    for line in console.render_lines(table, options, pad=False):
        text = Text.assemble(*[(segment.text, segment.style or "") for segment in line if not segment.control])
        text.rstrip()
        console.print(text, soft_wrap=True, highlight=False)


#: Exception class names that error descriptions nest (``describe()`` of an activity error whose message
#: starts with its own type): ``OutcomeUnknown: ApplicationError: OutcomeUnknown: waffo ...``.
_ERROR_TYPE = re.compile(r"\b(?:[A-Z][a-z]+){2,}: ")


def plain_detail(detail: str) -> str:
    """A timeline detail said once, plainly: ``no answer: OutcomeUnknown: ApplicationError: OutcomeUnknown:
    waffo order/inquiry: HTTP 500`` reads ``no answer: waffo order/inquiry: HTTP 500``. Only the display
    changes; what the workflow recorded (and replays) stays as it was."""
    parts: list[str] = []
    for part in _ERROR_TYPE.sub("", detail).split(": "):
        if not parts or part != parts[-1]:
            parts.append(part)
    return ": ".join(parts)


def why_failed(failure: ProviderFailure | None, timeline: Sequence[OrderTimelineEntry] = ()) -> str:
    """Why an order or a refund is FAILED, in one line: the provider's refusal with its code, or what the
    engine recorded when it refused before asking the provider (``amount: the KESS store settles in USD, not
    CNY``)."""
    if failure is not None:
        return f"the provider refused: {failure.code} {failure.message}".rstrip()
    for entry in reversed(timeline):
        if entry.status == OrderStatus.FAILED and entry.detail:
            detail = plain_detail(entry.detail)
            return _TRANSITION.sub("", detail, count=1) or detail
    return "the provider refused"


#: The ``CREATED -> FAILED: `` a timeline detail starts with.
_TRANSITION = re.compile(r"^[A-Z_]+ -> [A-Z_]+(?:: |$)")


def percent_text(fraction: Fraction, places: int = 2) -> str:
    """``fraction`` as a percentage, rounded exactly (half to even, as amounts are) to ``places`` decimals.

    Computed on the exact fraction, never a float (``2.675 %`` is ``2.68%``, not the float's ``2.67%``). A
    part that is neither none nor all never reads as ``0.00%`` or ``100.00%``: ``<0.01%``, ``>99.99%``.
    """
    scale = 10**places

    def shown(units: int) -> str:
        whole, part = divmod(units, scale)
        return f"{whole}.{part:0{places}d}%" if places else f"{whole}%"

    units = round(fraction * 100 * scale)  # round() of a Fraction is exact, half to even
    if units == 0 and fraction > 0:
        return "<" + shown(1)
    if units == 100 * scale and fraction < 1:
        return ">" + shown(100 * scale - 1)
    return shown(units)


def order_fields(order: Order) -> list[Field]:
    fields: list[Field] = [
        ("Order", order.order_id),
        ("Status", status_text(order.status)),
        ("Amount", str(order.amount)),
    ]
    if order.captured_amount is not None and order.captured_amount != order.amount:
        fields.append(("Captured", str(order.captured_amount)))
    fields += [
        ("Refunded", str(order.refunded)),
        ("Refundable", str(order.refundable)),
        ("Provider", order.provider),
        ("Customer", order.customer_id),
        ("Capture", order.capture_mode.value.lower()),
        ("Request id", order.payment_key),
    ]
    if order.provider_reference:
        fields.append(("Provider ref", order.provider_reference))
    waiting = order.status in (OrderStatus.CREATED, OrderStatus.PENDING, OrderStatus.UNKNOWN)
    if waiting and order.customer_action is not None and (order.customer_action.url or order.customer_action.qr):
        fields.append(("Pay at", order.customer_action.url or order.customer_action.qr or ""))
    if order.failure is not None:
        fields.append(("Failure", f"{order.failure.code} {order.failure.message}"))
    if order.late_payment:
        fields.append(("Late", "paid after the order was closed"))
    if order.review is not None:
        review = order.review
        text = review.reason
        if review.resolved_by:
            text += f" — resolved by {review.resolved_by}: {review.resolution_reason}"
        fields.append(("Review", text))
    return fields


def timeline_table(entries: Iterable[OrderTimelineEntry | SubscriptionTimelineEntry]) -> Table:
    timeline = Table(title="Timeline", title_justify="left")
    for column in ("At (UTC)", "Event", "Status", "Detail"):
        timeline.add_column(column)
    for entry in entries:
        timeline.add_row(
            entry.at.strftime("%Y-%m-%d %H:%M:%S"),
            entry.event,
            entry.status.value if entry.status else "",
            plain_detail(entry.detail),
        )
    return timeline


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


def print_refunds(console: Console, refunds: list[Refund]) -> None:
    print_table(console, refunds_table(refunds), wrap=("Reason",))


def print_order(console: Console, order: Order) -> None:
    print_fields(console, order_fields(order))
    if order.refunds:
        print_refunds(console, order.refunds)
    print_table(console, timeline_table(order.timeline), wrap=("Detail",))
    action = order.customer_action
    waiting = order.status in (OrderStatus.CREATED, OrderStatus.PENDING, OrderStatus.UNKNOWN)
    if waiting and action is not None and action.qr:
        console.print("Scan to pay:")
        console.print(qr_text(action.qr), highlight=False, markup=False)


def print_subscription(console: Console, subscription: Subscription) -> None:
    summary: list[Field] = []
    plan = subscription.plan
    every = f"{plan.interval_count} {plan.interval.value}s" if plan.interval_count > 1 else plan.interval.value
    summary.append(("Subscription", subscription.subscription_id))
    summary.append(
        ("Status", Text(subscription.status.value, style=_SUBSCRIPTION_STYLE.get(subscription.status, "yellow")))
    )
    summary.append(
        ("Plan", f"{plan.plan_id}: {plan.amount} per {every}" + (f", {plan.periods} periods" if plan.periods else ""))
    )
    summary.append(("Provider", f"{subscription.provider} ({subscription.mode.value.replace('_', '-')})"))
    summary.append(("Customer", subscription.customer_id))
    summary.append(("Request id", subscription.request_key))
    if subscription.provider_reference:
        summary.append(("Provider ref", subscription.provider_reference))
    if subscription.status.value == "INCOMPLETE" and subscription.customer_action and subscription.customer_action.url:
        summary.append(("Authorize at", subscription.customer_action.url))
    if subscription.next_billing_at:
        summary.append(("Next billing", subscription.next_billing_at.strftime("%Y-%m-%d %H:%M UTC")))
    if subscription.cancel_at_period_end:
        summary.append(("Cancels", "at the end of the current period"))
    if subscription.coupon is not None:
        applied = subscription.coupon
        last = applied.last_period()
        first = applied.first_period
        covered = f"periods {first} to {last}" if last is not None else f"from period {first}"
        summary.append(("Coupon", f"{applied.coupon.code}: {applied.coupon.describe()}, {covered}"))
    change = subscription.pending_change
    if change is not None:
        when = "at period end" if change.scheduled else "in progress"
        summary.append(("Plan change", f"to {change.plan.plan_id} ({change.plan.amount}) {when}"))
        if change.customer_action is not None and change.customer_action.url:
            summary.append(("Authorize at", change.customer_action.url))
    if subscription.cancelled_by:
        summary.append(("Cancelled by", subscription.cancelled_by.value.lower()))
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
    links, codes = open_invoices(subscription)
    print_fields(console, summary + links)
    for label, code in codes:
        console.print(f"Scan to pay {label}:", highlight=False)
        console.print(code, highlight=False, markup=False, soft_wrap=True)
        console.print(qr_text(code), highlight=False, markup=False)
    if subscription.periods:
        print_table(console, periods)
    print_table(console, timeline_table(subscription.timeline), wrap=("Detail",))


def open_invoices(subscription: Subscription) -> tuple[list[Field], list[tuple[str, str]]]:
    """Where the customer pays what is invoiced and unpaid (engine-invoiced periods, adjustments): links as
    ``Pay period 2 (9.99 USD)`` fields, QR contents (a KESS code) as (label, code) to draw."""
    if subscription.status in (SubscriptionStatus.CANCELLED, SubscriptionStatus.EXPIRED):
        return [], []
    due: list[tuple[str, str]] = []
    for record in subscription.periods:
        if record.checkout_url and record.status.value != "PAID":
            due.append((f"period {record.number} ({record.amount or subscription.plan.amount})", record.checkout_url))
    for adjustment in subscription.adjustments:
        if adjustment.checkout_url and adjustment.status.value != "PAID":
            due.append((f"{adjustment.reason} ({adjustment.amount})", adjustment.checkout_url))
    links: list[Field] = [(f"Pay {label}", url) for label, url in due if url.startswith(("https://", "http://"))]
    codes = [(label, target) for label, target in due if not target.startswith(("https://", "http://"))]
    return links, codes


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
