"""The review queue: what waits for an operator, oldest first (see :mod:`starter.find`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial

from billing.orders import OrderStatus
from billing.subscriptions import SubscriptionStatus
from starter.client import BillingClient
from starter.find import (
    ORDER_TYPE,
    SUBSCRIPTION_TYPE,
    Filters,
    ReviewItem,
    ReviewQueue,
    gather_bounded,
    list_all,
    order_review_items,
    subscription_review_item,
)


async def review_queue(
    billing: BillingClient, unknown_older_than: timedelta, *, refunds: bool = True, cap: int = 1000
) -> ReviewQueue:
    client, now = billing.temporal, datetime.now(UTC)
    in_review = Filters(statuses=[OrderStatus.NEEDS_REVIEW.value], running_only=True)
    # An order UNKNOWN for the threshold was started at least that long ago: visibility narrows it first.
    unknown = Filters(statuses=[OrderStatus.UNKNOWN.value], created_before=now - unknown_older_than, running_only=True)
    paid = Filters(statuses=[OrderStatus.PAID.value, OrderStatus.PARTIALLY_REFUNDED.value], running_only=True)
    late = Filters(statuses=[SubscriptionStatus.PAST_DUE.value, SubscriptionStatus.UNPAID.value], running_only=True)
    order_ids: list[str] = []
    checked_for_refunds = 0
    for filters in (in_review, unknown) + ((paid,) if refunds else ()):
        found = await list_all(client, filters.to_query(ORDER_TYPE), cap)
        if filters is paid:
            checked_for_refunds = len(found)
        order_ids += [execution.id.removeprefix("order-") for execution in found]
    subscription_ids = [
        execution.id.removeprefix("subscription-")
        for execution in await list_all(client, late.to_query(SUBSCRIPTION_TYPE), cap)
    ]

    unique_orders = list(dict.fromkeys(order_ids))
    orders = await gather_bounded([partial(billing.get_order, order_id) for order_id in unique_orders])
    subscriptions = await gather_bounded([partial(billing.get_subscription, sid) for sid in subscription_ids])
    items: list[ReviewItem] = []
    for order in orders:
        if order is not None:
            items += order_review_items(order, now, unknown_older_than)
    for subscription in subscriptions:
        if subscription is not None and subscription.status in (SubscriptionStatus.PAST_DUE, SubscriptionStatus.UNPAID):
            items.append(subscription_review_item(subscription))
    items.sort(key=lambda item: item.since)
    return ReviewQueue(items=items, orders_checked_for_refunds=checked_for_refunds)
