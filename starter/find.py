"""Finding orders and subscriptions over Temporal visibility, and the queue an operator works through.

Lists read only visibility (the search attributes of :mod:`billing.search_attributes`): one request per
page, no workflow is queried. The review queue queries the few workflows it lists to say why each waits
(the review reason is in the workflow's state, not in visibility). Refunds in review are the one costly
part: no search attribute marks them, so every open paid order is asked (a bounded number, concurrently).

Visibility is eventually consistent: a workflow started or changed a moment ago may not be listed yet.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
import shlex
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio.client import Client, WorkflowExecution
from temporalio.service import RPCError, RPCStatusCode

from billing import errors
from billing import search_attributes as sa
from billing.money import Money
from billing.orders import Order, OrderStatus, RefundState
from billing.subscriptions import Subscription, SubscriptionStatus

ORDER_TYPE = "OrderWorkflow"
SUBSCRIPTION_TYPE = "SubscriptionWorkflow"
T = TypeVar("T")
E = TypeVar("E", OrderStatus, SubscriptionStatus)

# -- filters --------------------------------------------------------------------------------------------


def quoted(value: str, field: str) -> str:
    """A visibility query string literal; quotes and backslashes are refused rather than escaped."""
    if '"' in value or "\\" in value or "\n" in value:
        raise errors.InputError("must not contain quotes, backslashes or newlines", field=field)
    return f'"{value}"'


def parse_statuses(values: Sequence[str], kind: type[E]) -> list[E]:
    statuses: list[E] = []
    for value in values:
        for part in value.split(","):
            try:
                statuses.append(kind(part.strip().upper()))
            except ValueError:
                allowed = ", ".join(member.value for member in kind)
                raise errors.InputError(f"{part!r} is not one of {allowed}", field="status") from None
    return statuses


def parse_time(value: str, field: str) -> datetime:
    """An ISO 8601 date or time (UTC when no offset is given), or a duration before now such as ``2h``."""
    try:
        return datetime.now(UTC) - parse_duration(value, field)
    except errors.InputError:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise errors.InputError("expected an ISO 8601 date or time, or an age such as 15m", field=field) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(value: str, field: str) -> timedelta:
    """``30s``, ``15m``, ``2h`` or ``1d``."""
    match = _DURATION.match(value.strip())
    if match is None:
        raise errors.InputError("expected a duration such as 30s, 15m, 2h or 1d", field=field)
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Filters:
    statuses: Sequence[str] = ()
    provider: str | None = None
    customer_id: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    #: A raw visibility query, AND-ed with the rest.
    query: str | None = None
    running_only: bool = False

    def to_query(self, workflow_type: str) -> str:
        clauses = [f"WorkflowType = {quoted(workflow_type, 'type')}"]
        if self.statuses:
            listed = ", ".join(quoted(status, "status") for status in self.statuses)
            clauses.append(f"{sa.BILLING_STATUS.name} IN ({listed})")
        if self.provider:
            clauses.append(f"{sa.PROVIDER.name} = {quoted(self.provider, 'provider')}")
        if self.customer_id:
            clauses.append(f"{sa.CUSTOMER_ID.name} = {quoted(self.customer_id, 'customer_id')}")
        if self.created_after:
            clauses.append(f'StartTime >= "{rfc3339(self.created_after)}"')
        if self.created_before:
            clauses.append(f'StartTime < "{rfc3339(self.created_before)}"')
        if self.running_only:
            clauses.append('ExecutionStatus = "Running"')
        if self.query and self.query.strip():
            clauses.append(f"({self.query.strip()})")
        return " AND ".join(clauses)


# -- listing ------------------------------------------------------------------------------------------


class OrderRow(BaseModel):
    order_id: str
    status: str | None
    provider: str | None
    customer_id: str | None
    amount: Money | None
    created_at: datetime
    closed_at: datetime | None
    #: The workflow's own state: Running while the order can still change (refunds included).
    execution: str


class SubscriptionRow(BaseModel):
    subscription_id: str
    status: str | None
    provider: str | None
    customer_id: str | None
    amount: Money | None
    next_billing_at: datetime | None
    created_at: datetime
    execution: str


class OrderPage(BaseModel):
    query: str
    orders: list[OrderRow]
    next_page_token: str | None


class SubscriptionPage(BaseModel):
    query: str
    subscriptions: list[SubscriptionRow]
    next_page_token: str | None


def _amount(execution: WorkflowExecution) -> Money | None:
    attributes = execution.typed_search_attributes
    minor, currency = attributes.get(sa.AMOUNT_MINOR), attributes.get(sa.CURRENCY)
    if minor is None or currency is None:
        return None
    try:
        return Money(amount_minor=minor, currency=currency)
    except Exception:  # an attribute we cannot read is shown as missing, not as an error
        return None


def _execution(execution: WorkflowExecution) -> str:
    return execution.status.name.title().replace("_", "") if execution.status else "Unknown"


def _listed(execution: WorkflowExecution) -> dict[str, Any]:
    """What a listed order and a listed subscription both show: their search attributes and execution."""
    attributes = execution.typed_search_attributes
    return {
        "status": attributes.get(sa.BILLING_STATUS),
        "provider": attributes.get(sa.PROVIDER),
        "customer_id": attributes.get(sa.CUSTOMER_ID),
        "amount": _amount(execution),
        "created_at": execution.start_time,
        "execution": _execution(execution),
    }


def order_row(execution: WorkflowExecution) -> OrderRow:
    return OrderRow(order_id=execution.id.removeprefix("order-"), closed_at=execution.close_time, **_listed(execution))


def subscription_row(execution: WorkflowExecution) -> SubscriptionRow:
    return SubscriptionRow(
        subscription_id=execution.id.removeprefix("subscription-"),
        next_billing_at=execution.typed_search_attributes.get(sa.NEXT_BILLING_AT),
        **_listed(execution),
    )


def encode_token(token: bytes | None) -> str | None:
    return base64.urlsafe_b64encode(token).decode() if token else None


def decode_token(token: str | None) -> bytes | None:
    if not token:
        return None
    try:
        return base64.urlsafe_b64decode(token.encode())
    except (binascii.Error, ValueError):
        raise errors.InputError("not a token printed by a previous list", field="page_token") from None


async def list_page(
    client: Client, query: str, limit: int, page_token: str | None
) -> tuple[list[WorkflowExecution], str | None]:
    """One page of at most ``limit`` workflows, and the token of the next page (None: the last)."""
    executions = client.list_workflows(query, page_size=limit, next_page_token=decode_token(page_token))
    try:
        await executions.fetch_next_page()
    except RPCError as exc:
        if exc.status in (RPCStatusCode.INVALID_ARGUMENT, RPCStatusCode.FAILED_PRECONDITION):
            raise errors.InputError(f"visibility refused {query!r}: {exc.message}", field="query") from None
        raise errors.BillingError(f"Temporal refused the list: {exc.message}") from None
    return list(executions.current_page or []), encode_token(executions.next_page_token)


async def list_all(client: Client, query: str, cap: int) -> list[WorkflowExecution]:
    found: list[WorkflowExecution] = []
    token: str | None = None
    while len(found) < cap:
        page, token = await list_page(client, query, min(1000, cap - len(found)), token)
        found += page
        if token is None:
            break
    return found


# -- the review queue -------------------------------------------------------------------------------------


class ReviewItem(BaseModel):
    kind: str  # order, refund or subscription
    #: The order or subscription id (for a refund: its order's id; ``refund_id`` names the refund).
    id: str
    refund_id: str | None = None
    status: str
    #: Since when it waits in this state (UTC): the queue is oldest first.
    since: datetime
    reason: str
    #: The command that settles it, to copy (placeholders in <angle brackets>).
    command: str
    amount: Money | None = None


class ReviewQueue(BaseModel):
    items: list[ReviewItem]
    #: How many open paid orders were asked for refunds in review (the costly part of the queue).
    orders_checked_for_refunds: int


def _since(timeline: Sequence[Any], status: Any, fallback: datetime) -> datetime:
    """When the last uninterrupted run of ``status`` in the timeline began."""
    since: datetime | None = None
    for entry in timeline:
        if entry.status == status:
            since = since or entry.at
        elif entry.status is not None:
            since = None
    return since or fallback


def _last_detail(timeline: Sequence[Any]) -> str:
    from starter.render import plain_detail

    for entry in reversed(timeline):
        if entry.detail:
            return f"{entry.event}: {plain_detail(entry.detail)}"
    return ""


def order_review_items(order: Order, now: datetime, unknown_older_than: timedelta) -> list[ReviewItem]:
    """What of ``order`` waits for an operator: the order itself (in review, or unknown too long), its refunds."""
    items: list[ReviewItem] = []
    quoted_id = shlex.quote(order.order_id)
    if order.status is OrderStatus.NEEDS_REVIEW:
        items.append(
            ReviewItem(
                kind="order",
                id=order.order_id,
                status=order.status.value,
                since=order.review.since if order.review else _since(order.timeline, order.status, order.created_at),
                reason=order.review.reason if order.review else _last_detail(order.timeline),
                command=f"billing order resolve {quoted_id} --status <PAID|FAILED|CANCELLED> "
                "--operator <you> --reason <why>",
                amount=order.amount,
            )
        )
    elif order.status is OrderStatus.UNKNOWN:
        since = _since(order.timeline, order.status, order.created_at)
        if now - since >= unknown_older_than:
            detail = _last_detail(order.timeline)
            items.append(
                ReviewItem(
                    kind="order",
                    id=order.order_id,
                    status=order.status.value,
                    since=since,
                    reason="the provider's answer is unknown; the engine keeps asking"
                    + (f" (last: {detail})" if detail else ""),
                    command=f"billing order check {quoted_id}",
                    amount=order.amount,
                )
            )
    for refund in order.refunds:
        if refund.status is RefundState.NEEDS_REVIEW:
            items.append(
                ReviewItem(
                    kind="refund",
                    id=order.order_id,
                    refund_id=refund.refund_id,
                    status=refund.status.value,
                    since=refund.completed_at or refund.requested_at,
                    reason=refund.review_reason or "the refund's outcome could not be established",
                    command=f"billing order show {quoted_id}",
                    amount=refund.amount,
                )
            )
    return items


def subscription_review_item(subscription: Subscription) -> ReviewItem:
    detail = _last_detail(subscription.timeline)
    why = {
        SubscriptionStatus.PAST_DUE: "a renewal payment failed; the engine retries it",
        SubscriptionStatus.UNPAID: "renewal payments failed and retries are exhausted",
    }.get(subscription.status, subscription.status.value)
    return ReviewItem(
        kind="subscription",
        id=subscription.subscription_id,
        status=subscription.status.value,
        since=_since(subscription.timeline, subscription.status, subscription.created_at),
        reason=why + (f" (last: {detail})" if detail else ""),
        command=f"billing subscription cancel {shlex.quote(subscription.subscription_id)} --reason <why>",
        amount=subscription.plan.amount,
    )


async def gather_bounded(calls: Sequence[Callable[[], Awaitable[T]]], concurrency: int = 8) -> list[T | None]:
    """Run ``calls`` at most ``concurrency`` at a time; a workflow gone in the meantime gives None."""
    gate = asyncio.Semaphore(concurrency)

    async def one(call: Callable[[], Awaitable[T]]) -> T | None:
        async with gate:
            try:
                return await call()
            except errors.NotFoundError:
                return None

    return list(await asyncio.gather(*(one(call) for call in calls)))
