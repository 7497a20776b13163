"""What the Temporal UI shows of an order: its summary, its BillingStatus and its current details.

The UI reads current details through the built-in ``__temporal_workflow_metadata`` query, as done here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.testing import WorkflowEnvironment

from billing import search_attributes as sa
from billing.gateway import Customer
from billing.money import Money
from billing.orders import CreateOrder, OrderStatus, RefundRequest, order_workflow_id
from tests.support.stack import TEST_ORDER_POLICY, OrderStack, order_stack


@pytest.fixture
async def stack(time_skipping_env: WorkflowEnvironment) -> AsyncIterator[OrderStack]:
    async with order_stack(time_skipping_env.client, env=time_skipping_env) as running:
        yield running


async def ui_view(stack: OrderStack, order_id: str) -> tuple[str, str | None, str]:
    """(summary, BillingStatus, current details) as the UI reads them."""
    handle = stack.billing.temporal.get_workflow_handle(order_workflow_id(order_id))
    description = await handle.describe()
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    summary = await description.static_summary() or ""
    return summary, description.typed_search_attributes.get(sa.BILLING_STATUS), metadata.current_details


async def test_status_and_amount_follow_every_change(stack: OrderStack) -> None:
    request = CreateOrder(
        order_id="ord-ui",
        provider="waffo",
        amount=Money.parse("10.00", "USD"),
        customer=Customer(customer_id="cust-ui", email="buyer@example.com"),
        description="UI order",
        policy=TEST_ORDER_POLICY,
    )
    await stack.billing.create_order(request)
    summary, status, details = await ui_view(stack, "ord-ui")
    assert summary == "Order ord-ui · 10.00 USD · waffo"
    assert status == "PENDING"
    assert details.startswith("**PENDING** · 10.00 USD · waffo"), details
    assert "deadline " in details

    await stack.customer("ord-ui", "pay")
    await stack.billing.wait_for_status("ord-ui", {OrderStatus.PAID})
    summary, status, details = await ui_view(stack, "ord-ui")
    assert (status, details.split("\n\n")[0]) == ("PAID", "**PAID** · 10.00 USD · waffo")
    assert "refundable 10.00 USD" in details and "deadline" not in details
    assert "buyer@example.com" not in details + summary, "no personal data"

    await stack.billing.refund("ord-ui", RefundRequest(refund_id="r-ui", amount=Money.parse("2.50", "USD")))
    await stack.billing.wait_for_status("ord-ui", {OrderStatus.PARTIALLY_REFUNDED})
    _, status, details = await ui_view(stack, "ord-ui")
    assert status == "PARTIALLY_REFUNDED"
    assert details.startswith("**PARTIALLY_REFUNDED** · 10.00 USD · waffo")
    assert "refunded 2.50 USD · refundable 7.50 USD" in details
