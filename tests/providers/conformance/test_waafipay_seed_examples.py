"""Every WaafiPay example in the provider documents, as a fixture (one table, one row per example).

Sources: /work/shared/seeds/001_* (API purchase and reversal: parameter tables, no JSON examples), 002_*
(hosted payment page: request and response examples) and the answers /work/shared/reference/waafipay.md
quotes from WaafiPay (its section is named on each row). Each row says what our client must do with the
example: build a request compatible with it (every documented key present, with the example's value where
the example gives one; amounts compared as numbers, ``{{STORE_ID}}`` unquoted in the example means a JSON
number), or map a documented answer to the documented outcome. Answers travel through the client's real
transport code (httpx.MockTransport).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from billing.errors import NotFoundError
from billing.money import Money
from providers.base import (
    CancelPayment,
    CreatePayment,
    CreateRefund,
    Customer,
    FailureCategory,
    PaymentRef,
    PaymentStatus,
    RefundStatus,
)
from providers.waafipay import WaafiPayClient
from tests.providers.waafipay_support import (
    API_KEY,
    API_USER_ID,
    HPP_KEY,
    MERCHANT_UID,
    SANDBOX,
    STORE_ID,
    WaafiPayResponder,
    envelope,
)

NOW = datetime(2024, 11, 5, 9, 19, 10, tzinfo=UTC)
#: What ``{{...}}`` placeholders of the examples stand for: our credentials.
PLACEHOLDERS = {"{{MERCHANT_UID}}": MERCHANT_UID, "{{HPP_KEY}}": HPP_KEY, "{{STORE_ID}}": int(STORE_ID)}
#: A key of the parameter tables with no example value: present, any value.
ANY = object()


@dataclass(frozen=True)
class Example:
    """One documented example: where it is, what it is, and what our code must make of it."""

    section: str
    kind: str  # "request" | "response"
    operation: str  # "hpp_purchase" | "hpp_refund" | "tran_info" | "push" | "cancel"
    document: dict[str, Any]
    expect: dict[str, Any] = field(default_factory=dict)


# -- seed 002: the hosted payment page ---------------------------------------------------------------------

HPP_PURCHASE_REQUEST = {
    "schemaVersion": "1.0",
    "channelName": "WEB",
    "serviceName": "HPP_PURCHASE",
    "serviceParams": {
        "merchantUid": "{{MERCHANT_UID}}",
        "storeId": "{{STORE_ID}}",
        "hppKey": "{{HPP_KEY}}",
        "paymentMethod": "MWALLET_ACCOUNT",
        "hppSuccessCallbackUrl": "https://shop.example/hpp/success",
        "hppFailureCallbackUrl": "https://shop.example/hpp/failure",
        "hppRespDataFormat": 1,
        "payerInfo": {"subscriptionId": "252611111111"},
        "transactionInfo": {
            "referenceId": "422334",
            "amount": 10,
            "currency": "USD",
            "description": "Payment for order #422334",
        },
    },
}
HPP_PURCHASE_RESPONSE = {
    "schemaVersion": "1.0",
    "timestamp": "2024-11-05 09:19:10.131",
    "responseId": "12314",
    "responseCode": "2001",
    "errorCode": "0",
    "responseMsg": "RCS_SUCCESS",
    "params": {
        "hppUrl": "https://sandbox.waafipay.net/hpp/token/4542676573566A5261366B6A485049715056534A45773D3D",
        "directPaymentLink": "https://sandbox.waafipay.net/hpp/token/4542676573566A5261366B6A485049715056534A45773D3D?r=10629",
        "orderId": "1185941",
        "referenceId": "OrderId_422334",
    },
}
HPP_REFUND_REQUEST = {
    "schemaVersion": "1.0",
    "channelName": "WEB",
    "serviceName": "HPP_REFUNDPURCHASE",
    "serviceParams": {
        "merchantUid": "{{MERCHANT_UID}}",
        "storeId": "{{STORE_ID}}",
        "hppKey": "{{HPP_KEY}}",
        "amount": "10",  # quoted in the example; the parameter table types it Number (we send 10.00)
        "referenceId": "OrderId_422334",
        "description": "Order refund",
    },
}
HPP_REFUND_RESPONSE = {
    "schemaVersion": "1.0",
    "timestamp": "2025-05-05 01:54:47.571",
    "responseId": "e69b9629-4aa3-46e1-b7ce-97e7ebc7a099",
    "responseCode": "2001",
    "errorCode": "0",
    "responseMsg": "RCS_SUCCESS",
    "params": {"description": "success", "state": "approved", "transactionId": "XXX", "referenceId": "OrderId_422334"},
}
# The example as printed has a trailing comma (not JSON); its content is this.
HPP_REFUND_ERROR = {
    "schemaVersion": "1.0",
    "timestamp": "2024-11-05 09:24:48.347",
    "responseId": "12314",
    "responseCode": "5202",
    "errorCode": "E10207",
    "responseMsg": "RCS_TRAN_ALREADY_CANCELLED",
}
TRAN_INFO_REQUEST = {
    "schemaVersion": "1.0",
    "channelName": "WEB",
    "serviceName": "HPP_GETTRANINFO",
    "serviceParams": {
        "merchantUid": "{{MERCHANT_UID}}",
        "storeId": "{{STORE_ID}}",
        "hppKey": "{{HPP_KEY}}",
        "referenceId": "OrderId_422334",
    },
}
TRAN_INFO_RESPONSE = {
    "schemaVersion": "1.0",
    "timestamp": "2024-11-05 12:19:05.05",
    "responseId": "123114",
    "responseCode": "2001",
    "errorCode": "0",
    "responseMsg": "RCS_SUCCESS",
    "params": {
        "tranStatusDesc": "Approved",
        "amount": "2.0",
        "payerId": "252700000000",
        "paymentMethod": "mwallet_account",
        "description": "payment",
        "tranDate": "2024-11-05 10:58:50.0",
        "currency": "USD",
        "invoiceId": "16F7F28E21EC",
        "referenceId": "16F7F28E21EC",
        "tranAmount": "2.0",
        "transactionId": "126895",
        "tranStatusId": "3",
        "status": "Approved",
    },
}

# -- seed 001: API purchase and reversal (parameter tables only) -------------------------------------------

API_PURCHASE_TABLE = {
    "schemaVersion": "1.0",
    "requestId": ANY,
    "timestamp": ANY,
    "channelName": ANY,
    "serviceName": "API_PURCHASE",
    "serviceParams": {
        "merchantUid": "{{MERCHANT_UID}}",
        "apiUserId": ANY,
        "apiKey": ANY,
        "paymentMethod": "MWALLET_ACCOUNT",
        "payerInfo": {"accountNo": "252611111111"},
        "transactionInfo": {
            "referenceId": "ref_001",
            "invoiceId": ANY,
            "amount": 10,
            "currency": "USD",
            "description": ANY,
        },
    },
}
API_CANCELPURCHASE_TABLE = {
    "schemaVersion": "1.0",
    "requestId": ANY,
    "timestamp": ANY,
    "channelName": ANY,
    "serviceName": "API_CANCELPURCHASE",
    "serviceParams": {
        "merchantUid": "{{MERCHANT_UID}}",
        "apiUserId": ANY,
        "apiKey": ANY,
        "paymentMethod": "MWALLET_ACCOUNT",
        "transactionId": "1111",
        "referenceId": "ref_001",
        "description": ANY,
    },
}
#: Seed 001 response table with the values reference A4 quotes (masked accountNo, txAmount "10.0").
API_PURCHASE_RESPONSE = envelope(
    {
        "accountNo": "252611****1111",
        "accountType": "MWALLET_ACCOUNT",
        "state": "APPROVED",
        "merchantCharges": "0",
        "referenceId": "ref_001",
        "transactionId": "1111",
        "issuerTransactionId": "ISS-1",
        "txAmount": "10.0",
    }
)
API_CANCELPURCHASE_RESPONSE = envelope(
    {"description": "success", "state": "approved", "transactionId": "1112", "referenceId": "ref_001"}
)

EXAMPLES: list[Example] = [
    Example("seed 002 §1 Initiate Purchase: request example", "request", "hpp_purchase", HPP_PURCHASE_REQUEST),
    Example(
        "seed 002 §1 Initiate Purchase: response example",
        "response",
        "hpp_purchase",
        HPP_PURCHASE_RESPONSE,
        {"status": PaymentStatus.PENDING, "action": HPP_PURCHASE_RESPONSE["params"]["directPaymentLink"]},
    ),
    Example("seed 002 §2 Refund Purchase: request example", "request", "hpp_refund", HPP_REFUND_REQUEST),
    Example(
        "seed 002 §2 Refund Purchase: response example (state approved: refunded)",
        "response",
        "hpp_refund",
        HPP_REFUND_RESPONSE,
        {"refund": RefundStatus.SUCCEEDED},
    ),
    Example(
        "seed 002 §2 Refund Purchase: example error response (5202 already cancelled)",
        "response",
        "hpp_refund",
        HPP_REFUND_ERROR,
        {"refund": RefundStatus.FAILED, "code": "5202"},
    ),
    Example(
        "seed 002 §2 Refund Purchase: state declined means the refund failed",
        "response",
        "hpp_refund",
        {**HPP_REFUND_RESPONSE, "params": {**HPP_REFUND_RESPONSE["params"], "state": "declined"}},
        {"refund": RefundStatus.FAILED},
    ),
    Example("seed 002 §3 Retrieve Transaction Information: request", "request", "tran_info", TRAN_INFO_REQUEST),
    Example(
        "seed 002 §3 Retrieve Transaction Information: response example (Approved)",
        "response",
        "tran_info",
        TRAN_INFO_RESPONSE,
        {"status": PaymentStatus.SUCCEEDED, "amount": Money.parse("2.00", "USD"), "transaction": "126895"},
    ),
    Example(
        "reference A5 5213 RCS_TRAN_NOT_FOUND to HPP_GETTRANINFO: no such transaction",
        "response",
        "tran_info",
        envelope([], code="5213", error="E10206", msg="RCS_TRAN_NOT_FOUND"),
        {"not_found": True},
    ),
    Example("seed 001 §1 Purchase: request parameter table", "request", "push", API_PURCHASE_TABLE),
    Example(
        "seed 001 §1 Purchase: response parameter table (state APPROVED)",
        "response",
        "push",
        API_PURCHASE_RESPONSE,
        {"status": PaymentStatus.SUCCEEDED, "transaction": "1111"},
    ),
    Example(
        "reference A5 5206 RCS_TRAN_FAILED_AT_ISSUER_SYSTEM: an issuer decline",
        "response",
        "push",
        envelope(
            [],
            code="5206",
            error="E10205",
            msg="RCS_TRAN_FAILED_AT_ISSUER_SYSTEM (Receiver Subscriber not found, TransactionId: 25446479)",
        ),
        {"status": PaymentStatus.DECLINED, "code": "5206", "category": FailureCategory.CUSTOMER},
    ),
    Example("seed 001 §2 Purchase Reversal: request parameter table", "request", "cancel", API_CANCELPURCHASE_TABLE),
    Example(
        "seed 001 §2 Purchase Reversal: response parameter table (state approved)",
        "response",
        "cancel",
        API_CANCELPURCHASE_RESPONSE,
        {"status": PaymentStatus.CLOSED},
    ),
]


def make_client(responder: WaafiPayResponder) -> WaafiPayClient:
    return WaafiPayClient(
        base_url=SANDBOX,
        merchant_uid=MERCHANT_UID,
        api_user_id=API_USER_ID,
        api_key=API_KEY,
        store_id=STORE_ID,
        hpp_key=HPP_KEY,
        hpp_response_format=1,
        tag_callback_urls=False,
        transport=httpx.MockTransport(responder),
    )


def facts(example: Example) -> dict[str, Any]:
    """The business facts of the example's operation (the same facts its request example shows)."""
    if example.operation == "hpp_purchase":
        return {"key": "422334", "amount": "10.00", "description": "Payment for order #422334"}
    if example.operation == "hpp_refund":
        return {"key": "OrderId_422334", "amount": "10.00", "reason": "Order refund"}
    if example.operation == "tran_info":
        key = "16F7F28E21EC" if example.kind == "response" else "OrderId_422334"
        return {"key": key}
    return {"key": "ref_001", "amount": "10.00", "description": "Order ref_001"}


async def run(example: Example, responder: WaafiPayResponder) -> Any:
    client = make_client(responder)
    given = facts(example)
    try:
        if example.operation in ("hpp_purchase", "push"):
            hosted = example.operation == "hpp_purchase"
            return await client.create_payment(
                CreatePayment(
                    idempotency_key=given["key"],
                    merchant_order_id=given["key"],
                    amount=Money.parse(given["amount"], "USD"),
                    description=given["description"],
                    customer=Customer(customer_id="c", phone="252611111111"),
                    payment_method="HPP" if hosted else None,
                    success_url="https://shop.example/hpp/success" if hosted else None,
                    failure_url="https://shop.example/hpp/failure" if hosted else None,
                    requested_at=NOW,
                )
            )
        if example.operation == "hpp_refund":
            return await client.refund(
                CreateRefund(
                    idempotency_key="refund_1",
                    payment=PaymentRef(idempotency_key=given["key"], provider_reference="hpp:1185941"),
                    amount=Money.parse(given["amount"], "USD"),
                    reason=given["reason"],
                    requested_at=NOW,
                )
            )
        if example.operation == "tran_info":
            return await client.inquire_payment(PaymentRef(idempotency_key=given["key"]))
        assert example.operation == "cancel"
        return await client.cancel_payment(
            CancelPayment(
                payment=PaymentRef(idempotency_key="ref_001", provider_reference="purchase:1111"), requested_at=NOW
            )
        )
    finally:
        await client.aclose()


def queue_answers(example: Example, responder: WaafiPayResponder) -> None:
    """The example's answer, after what the client asks first (a hosted-page refund finds the transaction)."""
    if example.operation == "hpp_refund":
        responder.answer({**TRAN_INFO_RESPONSE["params"], "referenceId": "OrderId_422334", "amount": "10.0"})
    if example.kind == "response":
        responder.answer()
        responder.replies[-1].document = example.document
        return
    answers = {
        "hpp_purchase": HPP_PURCHASE_RESPONSE,
        "hpp_refund": HPP_REFUND_RESPONSE,
        "tran_info": {
            **TRAN_INFO_RESPONSE,
            "params": {**TRAN_INFO_RESPONSE["params"], "referenceId": "OrderId_422334"},
        },
        "push": API_PURCHASE_RESPONSE,
        "cancel": API_CANCELPURCHASE_RESPONSE,
    }
    responder.answer()
    responder.replies[-1].document = answers[example.operation]


def assert_compatible(documented: Any, sent: Any, path: str) -> None:
    """Every documented key is in ``sent``, with the documented value where the document gives one."""
    if documented is ANY:
        assert sent is not None, f"{path} is missing"
        return
    if isinstance(documented, dict):
        assert isinstance(sent, dict), f"{path}: {sent!r} is not an object"
        for key, value in documented.items():
            assert key in sent, f"{path}.{key} is missing from {sorted(sent)}"
            assert_compatible(value, sent[key], f"{path}.{key}")
        return
    if isinstance(documented, str) and documented in PLACEHOLDERS:
        expected = PLACEHOLDERS[documented]
        assert sent == expected and type(sent) is type(expected), f"{path}: {sent!r}, documented {documented}"
        return
    if path.endswith(".amount"):
        assert isinstance(sent, Decimal), f"{path}: {sent!r} is not a JSON number (the tables type it Number)"
        assert sent == Decimal(str(documented)), f"{path}: {sent} != {documented}"
        return
    assert sent == documented, f"{path}: {sent!r} != {documented!r}"


@pytest.mark.parametrize("example", EXAMPLES, ids=[example.section for example in EXAMPLES])
async def test_seed_example(example: Example) -> None:
    responder = WaafiPayResponder()
    queue_answers(example, responder)
    try:
        outcome = await run(example, responder)
    except NotFoundError:
        assert example.expect.get("not_found"), example.section
        return
    assert not example.expect.get("not_found"), f"{example.section}: expected not found, got {outcome}"

    if example.kind == "request":
        sent = json.loads(responder.requests[-1].content, parse_float=Decimal)
        assert_compatible(example.document, sent, "$")
        return

    expect = example.expect
    if "status" in expect:
        assert outcome.status is expect["status"], (example.section, outcome)
    if "refund" in expect:
        assert outcome.status is expect["refund"], (example.section, outcome)
    if "code" in expect:
        assert outcome.failure is not None and outcome.failure.code.startswith(expect["code"]), outcome
    if "category" in expect:
        assert outcome.failure.category is expect["category"], outcome
    if "action" in expect:
        assert outcome.customer_action is not None and outcome.customer_action.url == expect["action"]
    if "amount" in expect:
        assert outcome.amount == expect["amount"], outcome
    if "transaction" in expect:
        assert outcome.provider_reference is not None and outcome.provider_reference.endswith(expect["transaction"])


def test_every_seed_section_has_a_row() -> None:
    sections = " ".join(example.section for example in EXAMPLES)
    for needed in ("seed 001 §1", "seed 001 §2", "seed 002 §1", "seed 002 §2", "seed 002 §3"):
        assert needed in sections
