"""A real order on the Temporal dev server with the codec: the server's history holds only ciphertext."""

from __future__ import annotations

from collections.abc import Iterator

from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from billing.codec import ENCODING
from billing.gateway import Customer
from billing.money import Money
from billing.orders import CreateOrder, OrderStatus, order_workflow_id
from billing.temporal import data_converter
from tests.codec.support import codec_settings
from tests.support.stack import order_stack

EMAIL = "secret.buyer@example.com"
PHONE = "+252615550199"
#: Search attributes are plaintext by design (AmountMinor, Currency, CustomerId...): they are checked apart.
SKIPPED_FIELDS = {"search_attributes", "header"}


def payloads(message: Message) -> Iterator[Payload]:
    """Every payload in a history event, except search attributes and headers (never encrypted)."""
    if isinstance(message, Payload):
        yield message
        return
    for field, value in message.ListFields():
        if field.name in SKIPPED_FIELDS or field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            for item in value.values():
                if isinstance(item, Message):
                    yield from payloads(item)
        elif isinstance(value, Message):
            yield from payloads(value)
        else:  # a repeated field of messages
            for item in value:
                yield from payloads(item)


async def test_history_on_the_server_holds_no_personal_data_or_amounts(dev_server_env: WorkflowEnvironment) -> None:
    raw_client = dev_server_env.client  # no codec: sees what the server stores
    encrypted = Client(
        raw_client.service_client,
        namespace=raw_client.namespace,
        data_converter=data_converter(codec_settings()),
    )
    async with order_stack(encrypted) as stack:
        created = await stack.billing.create_order(
            CreateOrder(
                order_id="enc-1",
                provider="waffo",
                amount=Money.parse("12.34", "USD"),
                customer=Customer(customer_id="cust-enc", email=EMAIL, phone=PHONE, first_name="Amina"),
                description="Encrypted order",
            )
        )
        await stack.customer("enc-1", "pay")
        paid = await stack.billing.wait_for_status("enc-1", [OrderStatus.PAID])
        provider_ref = paid.provider_reference or created.provider_reference
        assert provider_ref, "the provider assigned a reference"

        history = await raw_client.get_workflow_handle(order_workflow_id("enc-1")).fetch_history()
        raw = b"".join(event.SerializeToString() for event in history.events)
        for needle in (EMAIL, PHONE, "Amina", provider_ref, "Encrypted order"):
            assert needle.encode() not in raw, f"{needle!r} is stored in plain text"

        found = [
            p
            for event in history.events
            if not event.HasField("marker_recorded_event_attributes")
            for p in payloads(event)
        ]
        for event in history.events:
            if event.HasField("marker_recorded_event_attributes"):
                # The SDK writes its own bookkeeping in markers unencoded (a patch's id, a local
                # activity's type and attempt); what a local activity returned goes through the codec.
                details = event.marker_recorded_event_attributes.details
                for key, value in details.items():
                    assert key in {"result", "data", "patch-data"}, key
                    if key == "result":
                        found.extend(value.payloads)
                    else:
                        for payload in value.payloads:
                            assert b"enc-1" not in payload.data and b"12.34" not in payload.data
        assert len(found) > 10, "inputs, results, signals and summaries were all checked"
        for payload in found:
            assert payload.metadata.get("encoding") == ENCODING, payload.metadata
            for amount in (b"12.34", b"1234"):
                assert amount not in payload.SerializeToString()

        # The codec client reads it all back.
        order = await stack.billing.get_order("enc-1")
        assert order.amount == Money.parse("12.34", "USD")
        assert order.description == "Encrypted order"
