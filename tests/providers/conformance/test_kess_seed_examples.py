"""Every KESS example in the provider documents, as a fixture (one table, one row per example).

Sources: /work/shared/seeds/004_* (KESS Pay's WeChat Pay / Alipay merchant API: GET API TOKEN, NATIVE PAY,
QUICK PAY, JSAPI PAY, REFUND TO BUYER, CHECK PAYMENT STATUS, CHECK REFUND STATUS, each with one request
and one response example) and the answers /work/shared/reference/kesspay.md quotes from KESS's older page
(section B1). Each row names its section. The reference's B2 quotes KESS's other API (the WebPay v2 gateway,
``/api/mch/v2/gateway``, signed bodies), which this client does not speak, and B3 quotes WeChat Pay, not
KESS: neither gives rows. B4 is the reference's own reading of refusals ([INF]); its two rows say so.

The seed's examples are masked (``"123**"``, ``284957***``) and not quite JSON (a missing comma, a trailing
one); the bodies below keep every field, its JSON type and its value, with the masks filled in the same way
on both sides (store ``109038``, order ``ORDER-4339``, refund ``REFUND-4339-1``).

* Request rows run the real :class:`KessClient` against the KESS emulator over real HTTP on loopback and
  compare the body it sent with the example field for field, JSON types included (a number stays a number,
  a string a string), and no field the example does not have. Where we knowingly differ the row says so
  (``as_text``: sent as a JSON string where the example prints a masked number; ``extra``: a field the
  example lacks). The same row checks that the emulator's answer carries every field of the section's
  response example.
* Response rows are mappings: the documented answer, served to the real client through its own transport
  code (httpx.MockTransport, after the documented token answer), must give the documented outcome (status,
  failure code and category, amounts in minor units, references), or a declared "outcome unknown" where
  the document's answer cannot be read as a statement about our object.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from billing.errors import AnswerMismatchError, OutcomeUnknownError
from billing.money import Money
from emulators.kess import KessEmulator, KessEmulatorConfig, create_app
from host.serving import AppServer
from providers.base import (
    CreatePayment,
    CreateRefund,
    Customer,
    CustomerActionKind,
    FailureCategory,
    PaymentRef,
    PaymentStatus,
    RefundRef,
    RefundStatus,
)
from providers.kess import KessClient, KessSettings

USER, PASSWORD, STORE_ID = "kess-user", "kess-password", "109038"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ORDER, REFUND_NO = "ORDER-4339", "REFUND-4339-1"
CENT = Money(amount_minor=1, currency="USD")  # the examples' "amount": 0.01
AUTH_CODE = "284957123456789012"  # the examples' 284957*** (an Alipay code by its prefix)
TOKEN = "eyJ0eXA iOiJKV1Q***"  # seed 004's sample token, as printed

SEED = "seed 004"


@dataclass(frozen=True)
class Example:
    """One documented example: where it is, what it is, and what our code must make of it."""

    section: str
    kind: str  # "request" | "response"
    operation: str  # "token" | "native" | "quick" | "jsapi" | "refund" | "payment_status" | "refund_status"
    document: dict[str, Any]
    expect: dict[str, Any] = field(default_factory=dict)
    #: request rows: fields sent as JSON strings where the example prints a (masked) number, and why
    as_text: frozenset[str] = frozenset()
    #: request rows: fields we send that the example does not have
    extra: frozenset[str] = frozenset()
    #: request rows: the section's response example, whose fields the emulator's answer must carry
    answer: dict[str, Any] | None = None
    #: request rows: client settings and emulator options the row runs with
    settings: dict[str, Any] = field(default_factory=dict)
    emulator: dict[str, Any] = field(default_factory=dict)
    note: str = ""


# -- seed 004, as printed (masks filled in) ----------------------------------------------------------------

TOKEN_REQUEST = {"user": USER, "password": PASSWORD}
TOKEN_RESPONSE = {"success": True, "data": {"message": "SUCCESS", "token": TOKEN}}
NATIVE_REQUEST = {
    "service_id": 30,
    "store_id": STORE_ID,
    "sub_store_id": 12345,
    "sub_store_name": "Test Store",
    "amount": Decimal("0.01"),
    "fee_rate": 2,
    "auth_code": 284957123456789012,
    "out_trade_no": ORDER,
}
NATIVE_RESPONSE = {
    "success": True,
    "data": {
        "qr_code": "weixin://wxpay/bizpayurl?pr=6E4ptwz",
        "amount": Decimal("0.01"),
        "out_trade_no": ORDER,
        "result_code": "SUCCESS",
    },
}
QUICK_REQUEST = {**NATIVE_REQUEST, "service_id": 2, "sub_store_name": "Foo Bar"}
QUICK_RESPONSE = {
    "success": True,
    "data": {
        "amount": Decimal("0.01"),
        "currency": "USD",
        "out_trade_no": ORDER,
        "transaction_id": "4200123",
        "result_code": "SUCCESS",
    },
}
JSAPI_REQUEST = {**QUICK_REQUEST, "service_id": 30}
JSAPI_RESPONSE = QUICK_RESPONSE
REFUND_REQUEST = {
    "service_id": 30,
    "store_id": STORE_ID,
    "refund_amount": Decimal("0.01"),
    "out_trade_no": ORDER,
    "out_refund_no": REFUND_NO,
    "reason": "....",
}
REFUND_RESPONSE = {
    "success": True,
    "data": {
        "service_id": 30,
        "store_id": 109038,
        "refund_amount": Decimal("0.01"),
        "currency": "USD",
        "out_trade_no": ORDER,
        "out_refund_no": REFUND_NO,
        "transaction_id": "420000123",
        "result_code": "SUCCESS",
    },
}
STATUS_REQUEST = {"store_id": 109038, "out_trade_no": ORDER}
PAYMENT_STATUS_RESPONSE = {
    "success": True,
    "data": {
        "is_success": True,
        "service_id": 30,
        "out_trade_no": ORDER,
        "amount": Decimal("0.01"),
        "out_refund_no": REFUND_NO,
        "currency": "USD",
        "message": "Payment Successful!",
    },
}
REFUND_STATUS_RESPONSE = {
    "success": True,
    "data": {**PAYMENT_STATUS_RESPONSE["data"], "message": "Refund Successful!"},
}

# -- reference B1: answers of KESS's older page ------------------------------------------------------------

OLD_TOKEN_RESPONSE = {"status": "SUCCESS", "msg": TOKEN}
OLD_CREATE_QR_RESPONSE = {
    "qr_code": "https://qr.alipay.com/bax64ey",
    "amount": 10,
    "doc_id": "60332",
    "out_trade_no": "202002201349-603312",
    "result_code": "SUCCESS",
}
OLD_CHECK_PAID_RESPONSE = {"is_success": True, "message": "Payment Successful !"}

AUTH_CODE_AS_TEXT = frozenset({"auth_code"})
AUTH_CODE_WHY = (
    "auth_code: the example prints a masked number (284957***); we send the buyer's code as a JSON string, as "
    "WeChat types it: an 18-digit code is above a double's exact range, and a string loses nothing "
    "(BILLING_KESS_AUTH_CODE_AS_NUMBER sends the number; emulator id_types covers both readings)"
)

EXAMPLES: list[Example] = [
    Example(f"{SEED} GET API TOKEN: request", "request", "token", TOKEN_REQUEST, answer=TOKEN_RESPONSE),
    Example(
        f"{SEED} GET API TOKEN: response (the token is the next request's bearer)",
        "response",
        "token",
        TOKEN_RESPONSE,
        {"bearer": TOKEN},
    ),
    Example(
        f"{SEED} NATIVE PAY: request",
        "request",
        "native",
        NATIVE_REQUEST,
        as_text=AUTH_CODE_AS_TEXT,
        answer=NATIVE_RESPONSE,
        note=AUTH_CODE_WHY + "; auth_code only with BILLING_KESS_NATIVE_AUTH_CODE set (the seed does not say what "
        "it is for a code the buyer scans)",
    ),
    Example(
        f"{SEED} NATIVE PAY: response (a QR code to show: pending)",
        "response",
        "native",
        NATIVE_RESPONSE,
        {
            "status": PaymentStatus.PENDING,
            "qr": "weixin://wxpay/bizpayurl?pr=6E4ptwz",
            "amount": CENT,
            "paid": CENT,  # 0.01 plus 2 % of it rounds to 0.01
        },
    ),
    Example(
        f"{SEED} QUICK PAY: request",
        "request",
        "quick",
        QUICK_REQUEST,
        as_text=AUTH_CODE_AS_TEXT,
        answer=QUICK_RESPONSE,
        note=AUTH_CODE_WHY,
    ),
    Example(
        f"{SEED} QUICK PAY: request, auth_code as a number (every field as printed)",
        "request",
        "quick",
        QUICK_REQUEST,
        answer=QUICK_RESPONSE,
        settings={"auth_code_as_number": True},
        emulator={"id_types": "as_seed"},
        note="BILLING_KESS_AUTH_CODE_AS_NUMBER, against a KESS holding to the seed's types (id_types as_seed)",
    ),
    Example(
        f"{SEED} QUICK PAY: response (result_code SUCCESS: paid)",
        "response",
        "quick",
        QUICK_RESPONSE,
        {"status": PaymentStatus.SUCCEEDED, "amount": CENT, "reference": "4200123"},
    ),
    Example(
        f"{SEED} JSAPI PAY: request",
        "request",
        "jsapi",
        JSAPI_REQUEST,
        as_text=AUTH_CODE_AS_TEXT,
        answer=JSAPI_RESPONSE,
        note=AUTH_CODE_WHY + "; service_id 30 with an Alipay-looking code: the wallet is named (JSAPI:WECHAT:...)",
    ),
    Example(
        f"{SEED} JSAPI PAY: response (the buyer confirms in the wallet: pending until a status check)",
        "response",
        "jsapi",
        JSAPI_RESPONSE,
        {"status": PaymentStatus.PENDING, "amount": CENT, "reference": "4200123", "action": "WALLET_PUSH"},
        note="the seed does not say JSAPI pay is synchronous; only a status check concludes it",
    ),
    Example(f"{SEED} REFUND TO BUYER: request", "request", "refund", REFUND_REQUEST, answer=REFUND_RESPONSE),
    Example(
        f"{SEED} REFUND TO BUYER: response (accepted; settled by CHECK REFUND STATUS)",
        "response",
        "refund",
        REFUND_RESPONSE,
        {"refund": RefundStatus.PENDING, "amount": CENT, "payment_reference": "420000123"},
        note="result_code SUCCESS says the request was taken, not that the buyer has the money",
    ),
    Example(
        f"{SEED} CHECK PAYMENT STATUS: request",
        "request",
        "payment_status",
        STATUS_REQUEST,
        answer=PAYMENT_STATUS_RESPONSE,
    ),
    Example(
        f"{SEED} CHECK PAYMENT STATUS: response (is_success: paid)",
        "response",
        "payment_status",
        PAYMENT_STATUS_RESPONSE,
        {"status": PaymentStatus.SUCCEEDED, "amount": CENT},
    ),
    Example(
        f"{SEED} CHECK REFUND STATUS: request",
        "request",
        "refund_status",
        STATUS_REQUEST,
        extra=frozenset({"out_refund_no"}),
        answer=REFUND_STATUS_RESPONSE,
        note="out_refund_no is added to name our refund; a KESS that reads only out_trade_no ignores it, and "
        "an answer about another refund is refused (next row but one)",
    ),
    Example(
        f"{SEED} CHECK REFUND STATUS: response (is_success, naming our refund: refunded)",
        "response",
        "refund_status",
        REFUND_STATUS_RESPONSE,
        {"refund": RefundStatus.SUCCEEDED, "amount": CENT},
    ),
    Example(
        f"{SEED} CHECK REFUND STATUS: response naming another refund of the order (not ours: no answer)",
        "response",
        "refund_status",
        {"success": True, "data": {**REFUND_STATUS_RESPONSE["data"], "out_refund_no": "REFUND-4339"}},
        {"mismatch": True},
        note="the seed's own example names REFUND-433*** for a refund requested as REFUND-433***-1",
    ),
    Example(
        "reference B1 older page GET TOKEN response {status, msg}",
        "response",
        "token",
        OLD_TOKEN_RESPONSE,
        {"bearer": TOKEN},
    ),
    Example(
        "reference B1 older page CREATE QR CODE response (no envelope, KESS's own out_trade_no)",
        "response",
        "native",
        OLD_CREATE_QR_RESPONSE,
        {"unknown": True},
        note="not the envelope of seed 004's API: the outcome is unknown and reconciled, never guessed",
    ),
    Example(
        "reference B1 older page CHECK CUSTOMER PAID OR NOT response (no envelope)",
        "response",
        "payment_status",
        OLD_CHECK_PAID_RESPONSE,
        {"unknown": True},
        note="it names no order: never read as our order being paid",
    ),
    Example(
        "reference B4 [INF] refusal envelope {success: false, data: {result_code FAIL, err_code}} to QUICK PAY",
        "response",
        "quick",
        {
            "success": False,
            "data": {"result_code": "FAIL", "err_code": "NOTENOUGH", "err_code_des": "Insufficient balance"},
        },
        {"status": PaymentStatus.DECLINED, "code": "NOTENOUGH", "category": FailureCategory.CUSTOMER},
        note="seed 004 shows no refusal; the reference's reading of WeChat's codes (emulator failure_envelope)",
    ),
    Example(
        "reference B4 [INF] result_code FAIL inside success: true, nothing else said, to QUICK PAY",
        "response",
        "quick",
        {"success": True, "data": {"result_code": "FAIL"}},
        {"unknown": True},
        note="never paid on success: true alone; no err_code says why, so the order is inquired",
    ),
]


# -- running a row -----------------------------------------------------------------------------------------


def settings(base_url: str, **overrides: Any) -> KessSettings:
    """The seed's merchant: fee_rate 2, sub-store 12345 and the seed's native auth_code."""
    values: dict[str, Any] = {
        "base_url": base_url,
        "user": USER,
        "password": SecretStr(PASSWORD),
        "store_id": STORE_ID,
        "fee_rate": Decimal(2),
        "sub_store_id": "12345",
        "sub_store_name": "Test Store",
        "native_auth_code": AUTH_CODE,
    }
    return KessSettings(**{**values, **overrides})


def create(method: str | None) -> CreatePayment:
    return CreatePayment(
        idempotency_key=ORDER,
        merchant_order_id=ORDER,
        amount=CENT,
        description="Coffee",
        customer=Customer(customer_id="c-1"),
        payment_method=method,
        requested_at=NOW,
    )


METHODS = {"native": None, "quick": f"QUICKPAY:{AUTH_CODE}", "jsapi": f"JSAPI:WECHAT:{AUTH_CODE}"}
SUB_STORE_NAMES = {"native": "Test Store", "quick": "Foo Bar", "jsapi": "Foo Bar"}


def refund_request() -> CreateRefund:
    return CreateRefund(
        idempotency_key=REFUND_NO,
        payment=PaymentRef(idempotency_key=ORDER),
        amount=CENT,
        reason="....",
        requested_at=NOW,
    )


def refund_ref() -> RefundRef:
    return RefundRef(idempotency_key=REFUND_NO, payment_idempotency_key=ORDER, currency="USD")


async def call(client: KessClient, operation: str) -> Any:
    if operation in METHODS:
        return await client.create_payment(create(METHODS[operation]))
    if operation == "refund":
        return await client.refund(refund_request())
    if operation == "payment_status":
        return await client.inquire_payment(PaymentRef(idempotency_key=ORDER))
    if operation == "refund_status":
        return await client.inquire_refund(refund_ref())
    assert operation == "token"
    return await client.inquire_payment(PaymentRef(idempotency_key=ORDER))


@dataclass
class Exchange:
    path: str
    request: Any
    response: Any = None


class Served:
    """The KESS emulator on loopback, and every exchange a client had with it."""

    def __init__(self, emulator: KessEmulator, server: AppServer) -> None:
        self.emulator, self.server = emulator, server
        self.exchanges: list[Exchange] = []
        self.clients: list[KessClient] = []
        self.https: list[httpx.AsyncClient] = []

    async def _on_request(self, request: httpx.Request) -> None:
        body = json.loads(request.content, parse_float=Decimal) if request.content else None
        self.exchanges.append(Exchange(request.url.path, body))

    async def _on_response(self, response: httpx.Response) -> None:
        await response.aread()
        self.exchanges[-1].response = json.loads(response.content, parse_float=Decimal)

    def client(self, **overrides: Any) -> KessClient:
        http = httpx.AsyncClient(event_hooks={"request": [self._on_request], "response": [self._on_response]})
        client = KessClient(settings(self.server.url, **overrides), http_client=http)
        self.clients.append(client)
        self.https.append(http)  # an injected http client is not closed by the KessClient
        return client

    async def control(self, path: str, body: dict[str, Any] | None = None) -> None:
        async with httpx.AsyncClient() as http:
            response = await http.post(f"{self.server.url}/control{path}", json=body or {})
            assert response.status_code == 200, response.text

    def last(self, path: str) -> Exchange:
        return [exchange for exchange in self.exchanges if exchange.path == path][-1]


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    emulator = KessEmulator(KessEmulatorConfig(time_scale=0.01, sweep_interval_s=0.02))
    emulator.register_merchant(USER, PASSWORD, store_id=STORE_ID)
    server = AppServer(create_app(emulator))
    await server.start()
    kess = Served(emulator, server)
    try:
        yield kess
    finally:
        for client in kess.clients:
            await client.aclose()
        for http in kess.https:
            await http.aclose()
        await server.stop()


PATHS = {
    "token": "/api/mch/token",
    "native": "/api/mch/native_pay",
    "quick": "/api/mch/quick_pay",
    "jsapi": "/api/mch/jsapi_pay",
    "refund": "/api/mch/refund",
    "payment_status": "/api/mch/check_payment_status",
    "refund_status": "/api/mch/check_refund_status",
}


async def run_against_emulator(example: Example, kess: Served) -> Exchange:
    """Do the row's operation at the emulator the way the engine would, and return its exchange."""
    operation = example.operation
    for option, value in example.emulator.items():
        setattr(kess.emulator.config, option, value)
    if operation in METHODS:
        client = kess.client(sub_store_name=SUB_STORE_NAMES[operation], **example.settings)
        await call(client, operation)
        return kess.last(PATHS[operation])
    # Refunds and status checks are about a paid order with a refund.
    client = kess.client(**example.settings)
    await client.create_payment(create(None))
    await kess.control(f"/orders/{ORDER}/pay")
    if operation == "token":
        await call(client, "payment_status")
        return kess.last(PATHS["token"])
    await client.refund(refund_request())
    if operation != "refund":
        await call(client, operation)
    return kess.last(PATHS[operation])


def assert_same_fields(example: Example, sent: dict[str, Any]) -> None:
    """Field for field, JSON types included; only the row's declared differences are allowed."""
    documented = example.document
    undocumented = set(sent) - set(documented) - example.extra
    assert not undocumented, f"{example.section}: sent fields the example does not have: {sorted(undocumented)}"
    for name in example.extra:
        assert name in sent, f"{example.section}: the declared extra field {name} is not sent"
    for name, value in documented.items():
        assert name in sent, f"{example.section}: {name} is missing from {sorted(sent)}"
        mine = sent[name]
        if name in example.as_text:
            assert isinstance(mine, str) and mine == str(value), f"{example.section}: {name} = {mine!r}"
        elif isinstance(value, bool) or isinstance(value, str):
            assert mine == value and type(mine) is type(value), f"{example.section}: {name} = {mine!r}, not {value!r}"
        else:
            assert isinstance(mine, int | Decimal) and not isinstance(mine, bool), (
                f"{example.section}: {name} = {mine!r} is not a JSON number (the example prints {value})"
            )
            assert Decimal(mine) == Decimal(value), f"{example.section}: {name} = {mine}, not {value}"


#: Fixed words of the response examples: the emulator's answer (in the example's state) says the same.
WORDS = frozenset({"success", "result_code", "is_success", "message", "currency"})


def assert_carries(documented: dict[str, Any], answered: dict[str, Any], where: str) -> None:
    """The emulator's answer has every field of the response example, with the example's JSON type, and the
    example's fixed words (:data:`WORDS`; the token's message too)."""
    for name, value in documented.items():
        assert name in answered, f"{where}: the emulator's answer lacks {name} ({sorted(answered)})"
        mine = answered[name]
        if name in WORDS:
            assert mine == value, f"{where}: {name} = {mine!r}, the example says {value!r}"
        if isinstance(value, bool):
            assert isinstance(mine, bool), f"{where}: {name} = {mine!r} is not a boolean"
        elif isinstance(value, dict):
            assert isinstance(mine, dict), f"{where}: {name} = {mine!r} is not an object"
            assert_carries(value, mine, f"{where}.{name}")
        elif isinstance(value, int | Decimal):
            assert isinstance(mine, int | Decimal) and not isinstance(mine, bool), (
                f"{where}: {name} = {mine!r} is not a JSON number"
            )
        else:
            assert isinstance(mine, str), f"{where}: {name} = {mine!r} is not a string"


REQUESTS = [example for example in EXAMPLES if example.kind == "request"]
RESPONSES = [example for example in EXAMPLES if example.kind == "response"]


@pytest.mark.parametrize("example", REQUESTS, ids=[example.section for example in REQUESTS])
async def test_request_example(example: Example, served: Served) -> None:
    exchange = await run_against_emulator(example, served)
    assert_same_fields(example, exchange.request)
    assert example.answer is not None
    assert_carries(example.answer, exchange.response, f"{example.section}: the emulator's answer")


def answer_for(example: Example, path: str) -> Any:
    """The documented token answer, then the row's answer (a refund reads the payment status first)."""
    if path == PATHS["token"]:
        return example.document if example.operation == "token" else TOKEN_RESPONSE
    if example.operation == "token" or (example.operation == "refund" and path == PATHS["payment_status"]):
        return PAYMENT_STATUS_RESPONSE
    assert path == PATHS[example.operation], path
    return example.document


def seed_json(document: Any) -> bytes:
    """The document as KESS would send it: amounts as JSON numbers (0.01, never "0.01")."""
    return json.dumps(document, default=lambda value: float(value)).encode()


@pytest.mark.parametrize("example", RESPONSES, ids=[example.section for example in RESPONSES])
async def test_response_example(example: Example) -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, content=seed_json(answer_for(example, request.url.path)))

    client = KessClient(settings("https://kess.example"), transport=httpx.MockTransport(handler))
    expect = example.expect
    try:
        if expect.get("mismatch"):
            with pytest.raises(AnswerMismatchError):
                await call(client, example.operation)
            return
        if expect.get("unknown"):
            with pytest.raises(OutcomeUnknownError):
                await call(client, example.operation)
            return
        outcome = await call(client, example.operation)
    finally:
        await client.aclose()

    if "bearer" in expect:
        business = [request for request in sent if request.url.path != PATHS["token"]]
        assert business and business[0].headers["Authorization"] == f"Bearer {expect['bearer']}"
        return
    if "status" in expect:
        assert outcome.status is expect["status"], (example.section, outcome)
    if "refund" in expect:
        assert outcome.status is expect["refund"], (example.section, outcome)
    if "code" in expect:
        assert outcome.failure is not None and outcome.failure.code == expect["code"], outcome
    if "category" in expect:
        assert outcome.failure is not None and outcome.failure.category is expect["category"], outcome
    if "qr" in expect:
        action = outcome.customer_action
        assert action is not None and action.kind is CustomerActionKind.QR and action.qr == expect["qr"], outcome
    if "action" in expect:
        assert outcome.customer_action is not None and outcome.customer_action.kind == expect["action"], outcome
    if "amount" in expect:
        assert outcome.amount == expect["amount"], outcome
    if "paid" in expect:
        assert outcome.paid_amount == expect["paid"], outcome
    if "reference" in expect:
        assert outcome.provider_reference == expect["reference"], outcome
    if "payment_reference" in expect:
        assert outcome.payment_reference == expect["payment_reference"], outcome


def test_every_seed_section_has_a_request_and_a_response_row() -> None:
    sections = (
        "GET API TOKEN",
        "NATIVE PAY",
        "QUICK PAY",
        "JSAPI PAY",
        "REFUND TO BUYER",
        "CHECK PAYMENT STATUS",
        "CHECK REFUND STATUS",
    )
    seed = next(iter(Path("/work/shared/seeds").glob("004_*")), None)
    for section in sections:
        if seed is not None:
            assert section in seed.read_text(), section
        for kind in ("request", "response"):
            assert any(
                example.kind == kind and example.section.startswith(f"{SEED} {section}:") for example in EXAMPLES
            ), (section, kind)
