"""What the review queue says about one order or subscription, from the workflow's own state (the state
machine of billing/orders.py driven as the workflow drives it), and how details and wide tables print."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

from rich.console import Console
from rich.table import Table

from billing.gateway import CaptureMode, PaymentOutcome, PaymentStatus
from billing.idempotency import payment_key, refund_key
from billing.money import Money
from billing.orders import Order, OrderStatus, Refund
from starter.find import Filters, order_review_items, parse_duration
from starter.render import plain_detail, print_fields, print_table

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def usd(text: str) -> Money:
    return Money.parse(text, "USD")


def new_order(order_id: str = "ORD-1") -> Order:
    return Order(
        order_id=order_id,
        provider="waffo",
        amount=usd("10.00"),
        capture_mode=CaptureMode.AUTOMATIC,
        customer_id="C1",
        payment_key=payment_key(order_id),
        created_at=T0,
        deadline=T0 + timedelta(minutes=30),
    )


def test_an_order_in_review_says_why_and_how_to_resolve_it() -> None:
    order = new_order("ORD 7")
    order.move(OrderStatus.NEEDS_REVIEW, T0 + timedelta(minutes=5), "needs_review")
    order.flag_for_review("provider reports 12.00 USD, order is 10.00 USD", T0 + timedelta(minutes=5))
    [item] = order_review_items(order, T0 + timedelta(hours=1), timedelta(minutes=15))
    assert (item.kind, item.status, item.since) == ("order", "NEEDS_REVIEW", T0 + timedelta(minutes=5))
    assert item.reason == "provider reports 12.00 USD, order is 10.00 USD"
    assert item.command.startswith("billing order resolve 'ORD 7' --status"), "quoted for the shell"


def test_an_unknown_order_waits_from_when_it_became_unknown() -> None:
    order = new_order()
    order.move(OrderStatus.PENDING, T0, "created")
    order.move(OrderStatus.UNKNOWN, T0 + timedelta(minutes=20), "outcome_unknown", "no answer: X")
    order.note(T0 + timedelta(minutes=25), "inquiry", "no answer: OutcomeUnknown: ApplicationError: OutcomeUnknown: y")
    assert order_review_items(order, T0 + timedelta(minutes=30), timedelta(minutes=15)) == [], "10 minutes only"
    [item] = order_review_items(order, T0 + timedelta(minutes=40), timedelta(minutes=15))
    assert item.since == T0 + timedelta(minutes=20)
    assert item.reason.endswith("(last: inquiry: no answer: y)")
    assert item.command == "billing order check ORD-1"


def test_a_refund_in_review_is_listed_under_its_order() -> None:
    order = new_order()
    order.apply_payment(PaymentOutcome(status=PaymentStatus.SUCCEEDED), source="test", at=T0)
    refund = Refund(refund_id="R-1", amount=usd("4.00"), request_key=refund_key("ORD-1", "R-1"), requested_at=T0)
    order.add_refund(refund, T0)
    order.refund_needs_review(refund, "REFUNDNOTEXIST after 3 sends", T0 + timedelta(minutes=9))
    [item] = order_review_items(order, T0 + timedelta(hours=1), timedelta(minutes=15))
    assert (item.kind, item.id, item.refund_id, item.status) == ("refund", "ORD-1", "R-1", "NEEDS_REVIEW")
    assert item.reason == "REFUNDNOTEXIST after 3 sends"
    assert item.amount == usd("4.00")


def test_filters_become_one_visibility_query() -> None:
    query = Filters(statuses=["PAID", "UNKNOWN"], provider="kess", customer_id="C1", query="AmountMinor > 5").to_query(
        "OrderWorkflow"
    )
    assert query == (
        'WorkflowType = "OrderWorkflow" AND BillingStatus IN ("PAID", "UNKNOWN") AND Provider = "kess" '
        'AND CustomerId = "C1" AND (AmountMinor > 5)'
    )
    assert parse_duration("15m", "x") == timedelta(minutes=15)


def test_details_name_an_error_once() -> None:
    nested = "no answer: OutcomeUnknown: ApplicationError: OutcomeUnknown: waffo order/inquiry: HTTP 500"
    assert plain_detail(nested) == "no answer: waffo order/inquiry: HTTP 500"
    assert plain_detail("CREATED -> PENDING") == "CREATED -> PENDING"


def test_a_wide_table_grows_past_the_terminal_instead_of_cutting_a_url() -> None:
    out = io.StringIO()
    console = Console(file=out, width=80, color_system=None)
    url = "http://127.0.0.1:8070/waffo/checkout/subscription/SC2026120512000000000000000000000000001"
    table = Table(title="Periods")
    for column in ("Plan", "#", "From", "To", "Amount", "Status", "Attempts", "Granted", "Invoice"):
        table.add_column(column)
    table.add_row("1", "2", "2026-12-05", "2027-01-05", "9.99 USD", "PAST_DUE", "1", "", url)
    print_table(console, table)
    print_fields(console, [("Authorize at", url)])
    lines = out.getvalue().splitlines()
    row = next(line for line in lines if "PAST_DUE" in line)
    for value in ("2026-12-05", "2027-01-05", "9.99 USD", url):
        assert value in row
    assert f"Authorize at  {url}" in lines
