"""Amounts go out as JSON numbers, as seeds 001/002 type them, and a WaafiPay that holds to those type tables
(the emulator's ``amount_json="number"``, the worst case for a client that sends strings) accepts every
amount-bearing request of ours: API_PURCHASE, API_REFUND, HPP_PURCHASE and HPP_REFUNDPURCHASE, over real
HTTP to the emulator."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from billing.gateway import CreatePayment, CreateRefund, Customer, PaymentRef, PaymentStatus, RefundStatus
from billing.money import Money
from tests.support.stack import emulator_hub, waafipay_client

WALLET = "252611111111"  # a sandbox EVCPlus wallet


def payment(key: str, **fields: object) -> CreatePayment:
    return CreatePayment.model_validate(
        {
            "idempotency_key": key,
            "merchant_order_id": f"ORD-{key}",
            "amount": Money.parse("10.50", "USD"),
            "description": "Amounts as numbers",
            "customer": Customer(customer_id="c", phone=WALLET),
            "requested_at": datetime.now(UTC),
            **fields,
        }
    )


def refund(key: str, paid: PaymentRef, amount: str) -> CreateRefund:
    return CreateRefund(
        idempotency_key=key, payment=paid, amount=Money.parse(amount, "USD"), requested_at=datetime.now(UTC)
    )


async def test_a_waafipay_holding_to_the_type_tables_accepts_every_amount_we_send() -> None:
    async with emulator_hub() as (hub, server):
        hub.waafipay.config.amount_json = "number"
        client = waafipay_client(server.url, push_timeout=10)
        try:
            pushed = await client.create_payment(payment("num-push"))
            assert pushed.status is PaymentStatus.SUCCEEDED, pushed.failure
            push_ref = PaymentRef(idempotency_key="num-push", provider_reference=pushed.provider_reference)
            refunded = await client.refund(refund("num-push-r1", push_ref, "2.25"))
            assert refunded.status is RefundStatus.SUCCEEDED, refunded.failure

            hosted = await client.create_payment(
                payment(
                    "num-page",
                    payment_method="HPP",
                    success_url="https://shop.example/ok",
                    failure_url="https://shop.example/failed",
                )
            )
            assert hosted.status is PaymentStatus.PENDING, hosted.failure
            async with httpx.AsyncClient() as control:
                paid = await control.post(f"{server.url}/waafipay/control/hpp/num-page/approve", json={})
                paid.raise_for_status()
            page_ref = PaymentRef(idempotency_key="num-page", provider_reference=hosted.provider_reference)
            page_refund = await client.refund(refund("num-page-r1", page_ref, "1.50"))
            assert page_refund.status is RefundStatus.SUCCEEDED, page_refund.failure

            async with httpx.AsyncClient() as control:
                ledger = (await control.get(f"{server.url}/waafipay/control/ledger")).json()["entries"]
            assert sorted((e["kind"], e["amount"]) for e in ledger) == [
                ("charge", "10.50"),
                ("charge", "10.50"),
                ("refund", "1.50"),
                ("refund", "2.25"),
            ]
        finally:
            await client.aclose()
