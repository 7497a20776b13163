"""Search attributes are decided in one place (``billing.search_attributes``): whoever starts a run sets the
static ones and the starting status; the run only upserts what changes. A started order and subscription
have each attribute set once, with the right value."""

from __future__ import annotations

import itertools
import uuid
from collections import Counter
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.testing import WorkflowEnvironment

from billing.gateway import BillingInterval, Customer, SubscriptionPlan
from billing.money import Money
from billing.orders import order_workflow_id
from billing.subscriptions import StartSubscription, SubscriptionStatus, subscription_workflow_id
from tests.support.stack import order_stack, waffo_order


async def attribute_sets(client: Client, workflow_id: str) -> list[tuple[str, Any]]:
    """Every (attribute, value) the history sets, in order: at start, then by upserts."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    converter = DataConverter.default.payload_converter
    found: list[tuple[str, Any]] = []
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            fields = event.workflow_execution_started_event_attributes.search_attributes.indexed_fields
        elif event.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
        else:
            continue
        found += [(name, converter.from_payload(payload)) for name, payload in fields.items()]
    return [(name, value) for name, value in found if name != "TemporalChangeVersion"]


def once_each(sets: list[tuple[str, Any]]) -> None:
    """Each static attribute set once; the status set again only when it changed."""
    statics = [name for name, _ in sets if name != "BillingStatus"]
    repeated = {name: n for name, n in Counter(statics).items() if n > 1}
    assert not repeated, f"set more than once: {repeated} in {sets}"
    statuses = [value for name, value in sets if name == "BillingStatus"]
    assert all(a != b for a, b in itertools.pairwise(statuses)), f"the same status set again: {sets}"


async def test_a_started_order_and_subscription_have_each_attribute_once_and_correct(
    dev_server_env: WorkflowEnvironment,
) -> None:
    client = dev_server_env.client
    async with order_stack(client) as stack:
        order_id = f"sa-{uuid.uuid4().hex[:8]}"
        await stack.billing.create_order(waffo_order(order_id))
        order = await stack.billing.get_order(order_id)
        sets = await attribute_sets(client, order_workflow_id(order_id))
        once_each(sets)
        assert dict(sets) == {
            "BillingStatus": order.status.value,
            "Provider": "waffo",
            "CustomerId": "c",
            "AmountMinor": 1000,
            "Currency": "USD",
        }

        sub_id = f"sa-sub-{uuid.uuid4().hex[:8]}"
        created = await stack.billing.create_subscription(
            StartSubscription(
                subscription_id=sub_id,
                provider="waffo",
                plan=SubscriptionPlan(
                    plan_id="m",
                    description="Monthly",
                    amount=Money.parse("9.99", "USD"),
                    interval=BillingInterval.MONTH,
                ),
                customer=Customer(customer_id="cust-sa", email="sa@example.com"),
            )
        )
        assert created.status is SubscriptionStatus.INCOMPLETE
        sets = await attribute_sets(client, subscription_workflow_id(sub_id))
        once_each(sets)
        assert dict(sets) == {
            "BillingStatus": "INCOMPLETE",
            "Provider": "waffo",
            "CustomerId": "cust-sa",
            "AmountMinor": 999,
            "Currency": "USD",
        }
