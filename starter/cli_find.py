"""``billing order list``, ``billing subscription list``, ``billing review`` and ``billing order check``:
find orders and subscriptions, and work through what waits for an operator (see :mod:`starter.find`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Generic, TypeVar

import typer
from rich.text import Text

from providers.registry import PROVIDER_NAMES
from starter.cli_common import JsonOption, billing_client, console, emit, run

if TYPE_CHECKING:
    from temporalio.client import WorkflowExecution

    from starter.find import Filters, OrderPage, ReviewQueue, SubscriptionPage

StatusOption = Annotated[
    list[str] | None, typer.Option("--status", help="Only these statuses (repeat, or comma-separated)")
]
ProviderOption = Annotated[str | None, typer.Option(help=f"Only this provider: {', '.join(PROVIDER_NAMES)}")]
CustomerOption = Annotated[str | None, typer.Option("--customer-id", help="Only this customer id")]
AfterOption = Annotated[
    str | None, typer.Option("--created-after", help="ISO 8601 date/time (UTC unless given) or an age: 2h, 7d")
]
BeforeOption = Annotated[str | None, typer.Option("--created-before", help="ISO 8601 date/time or an age")]
QueryOption = Annotated[
    str | None,
    typer.Option(help="A raw visibility query, AND-ed with the filters, e.g. 'AmountMinor > 10000'"),
]
LimitOption = Annotated[int, typer.Option(min=1, max=1000, help="At most this many per page")]
PageOption = Annotated[
    str | None, typer.Option("--page-token", help="The next page: the token the previous page printed")
]
P = TypeVar("P")


def _filters(
    statuses: list[str] | None,
    kind: type,
    provider: str | None,
    customer_id: str | None,
    created_after: str | None,
    created_before: str | None,
    query: str | None,
) -> Filters:
    from starter.find import Filters, parse_statuses, parse_time

    return Filters(
        statuses=[status.value for status in parse_statuses(statuses or [], kind)],
        provider=provider,
        customer_id=customer_id,
        created_after=parse_time(created_after, "created_after") if created_after else None,
        created_before=parse_time(created_before, "created_before") if created_before else None,
        query=query,
    )


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def _next_page(token: str | None) -> None:
    if token:
        console.print(f"next page: --page-token {token}", soft_wrap=True, highlight=False, markup=False)


@dataclass(frozen=True)
class _Listing(Generic[P]):
    """What a list command lists: which workflows, how a page of them is told and shown."""

    title: str
    workflow_type: str
    statuses: type
    page: Callable[[str, list[WorkflowExecution], str | None], P]
    columns: tuple[str, ...]
    rows: Callable[[P], list[tuple[str, ...]]]
    next_page_token: Callable[[P], str | None]


def _list_command(what: str, listing: Callable[[], _Listing[Any]]) -> Callable[..., None]:
    def command(
        status: StatusOption = None,
        provider: ProviderOption = None,
        customer_id: CustomerOption = None,
        created_after: AfterOption = None,
        created_before: BeforeOption = None,
        query: QueryOption = None,
        limit: LimitOption = 50,
        page_token: PageOption = None,
        as_json: JsonOption = False,
    ) -> None:
        from starter.find import list_page

        shown = listing()

        async def action() -> Any:
            filters = _filters(status, shown.statuses, provider, customer_id, created_after, created_before, query)
            text = filters.to_query(shown.workflow_type)
            executions, token = await list_page((await billing_client()).temporal, text, limit, page_token)
            return shown.page(text, executions, token)

        page = run(action)

        def human() -> None:
            from rich.table import Table

            from starter.render import print_table

            rows = shown.rows(page)
            table = Table(title=f"{shown.title}: {len(rows)}", title_justify="left")
            for column in shown.columns:
                table.add_column(column)
            for row in rows:
                table.add_row(*row)
            print_table(console, table)
            _next_page(shown.next_page_token(page))

        emit(page, as_json, human)

    command.__doc__ = f"Find {what} by status, provider, customer or creation time, newest first (Temporal visibility)."
    return command


def _orders() -> _Listing[OrderPage]:
    from billing.orders import OrderStatus
    from starter.find import ORDER_TYPE, OrderPage, order_row

    return _Listing(
        title="Orders",
        workflow_type=ORDER_TYPE,
        statuses=OrderStatus,
        page=lambda text, executions, token: OrderPage(
            query=text, orders=[order_row(execution) for execution in executions], next_page_token=token
        ),
        columns=("Created (UTC)", "Order", "Status", "Amount", "Provider", "Customer", "Workflow"),
        rows=lambda page: [
            (
                _when(row.created_at),
                row.order_id,
                row.status or "",
                str(row.amount) if row.amount else "",
                row.provider or "",
                row.customer_id or "",
                row.execution,
            )
            for row in page.orders
        ],
        next_page_token=lambda page: page.next_page_token,
    )


def _subscriptions() -> _Listing[SubscriptionPage]:
    from billing.subscriptions import SubscriptionStatus
    from starter.find import SUBSCRIPTION_TYPE, SubscriptionPage, subscription_row

    return _Listing(
        title="Subscriptions",
        workflow_type=SUBSCRIPTION_TYPE,
        statuses=SubscriptionStatus,
        page=lambda text, executions, token: SubscriptionPage(
            query=text, subscriptions=[subscription_row(execution) for execution in executions], next_page_token=token
        ),
        columns=("Created (UTC)", "Subscription", "Status", "Price", "Next billing", "Provider", "Customer"),
        rows=lambda page: [
            (
                _when(row.created_at),
                row.subscription_id,
                row.status or "",
                str(row.amount) if row.amount else "",
                _when(row.next_billing_at),
                row.provider or "",
                row.customer_id or "",
            )
            for row in page.subscriptions
        ],
        next_page_token=lambda page: page.next_page_token,
    )


order_list = _list_command("orders", _orders)
subscription_list = _list_command("subscriptions", _subscriptions)


def review(
    unknown_older_than: Annotated[
        str, typer.Option("--unknown-older-than", help="List orders UNKNOWN for at least this long: 30s, 15m, 2h")
    ] = "15m",
    refunds: Annotated[
        bool,
        typer.Option(
            "--refunds/--no-refunds",
            help="Also ask every open paid order for refunds in review (one query per order)",
            metavar="",
        ),
    ] = True,
    cap: Annotated[int, typer.Option("--max", min=1, help="At most this many workflows of each kind")] = 1000,
    as_json: JsonOption = False,
) -> None:
    """What waits for an operator, oldest first: orders in review or unknown too long, refunds in review,
    subscriptions past due or unpaid; each with why, and the command that settles it."""
    from starter.find import parse_duration

    threshold = parse_duration(unknown_older_than, "unknown_older_than") if unknown_older_than else None

    async def action() -> ReviewQueue:
        from starter.review import review_queue

        assert threshold is not None
        return await review_queue(await billing_client(), threshold, refunds=refunds, cap=cap)

    if threshold is None:
        from starter.cli_common import fail

        raise fail("unknown_older_than: give a duration such as 15m", 2)
    queue = run(action)

    def human() -> None:
        if not queue.items:
            console.print("Nothing waits for an operator.")
            return
        console.print(f"{len(queue.items)} waiting, oldest first:", highlight=False)
        for item in queue.items:
            line = Text(f"{_when(item.since)}  ", style="dim")
            line.append(f"{item.kind} ", style="bold")
            line.append(item.id + (f" refund {item.refund_id}" if item.refund_id else ""))
            line.append(f"  {item.status}", style="bold magenta")
            if item.amount is not None:
                line.append(f"  {item.amount}")
            console.print(line, soft_wrap=True, highlight=False)
            console.print(f"    why: {item.reason}", soft_wrap=True, highlight=False, markup=False)
            console.print(f"    {item.command}", soft_wrap=True, highlight=False, markup=False)

    emit(queue, as_json, human)


def order_check(
    order_id: Annotated[str, typer.Argument(help="Order id")],
    as_json: JsonOption = False,
) -> None:
    """Ask the provider about an order now (an UNKNOWN or PENDING order); prints the order as it is now."""
    from billing.orders import Order
    from starter.render import print_order

    async def action() -> Order:
        billing = await billing_client()
        await billing.get_order(order_id)  # an unknown id is an error here, not a signal to nowhere
        await billing.check_now(order_id)
        return await billing.get_order(order_id)

    order = run(action)
    emit(order, as_json, lambda: print_order(console, order))


def register(app: typer.Typer, order_app: typer.Typer, subscription_app: typer.Typer) -> None:
    order_app.command("list")(order_list)
    order_app.command("check")(order_check)
    subscription_app.command("list")(subscription_list)
    app.command("review")(review)
