"""KESS's pure mapping (providers/kess/transform.py) against the examples of seed 004: payment method
convention, amounts and the fee_rate surcharge, times, code classes, status maps, request bodies and the
outcomes read from the seed's answers. The seed's samples are masked (``123**``) and not quite JSON; the
bodies below keep their fields and values with the masks filled in."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from billing.errors import CurrencyMismatchError, InputError
from billing.money import Money
from providers.base import (
    CreatePayment,
    CreateRefund,
    Customer,
    CustomerActionKind,
    FailureCategory,
    PaymentRef,
    PaymentStatus,
    RefundStatus,
)
from providers.kess import transform, wire
from providers.kess.transform import ALIPAY, WECHAT, CodeClass, MethodChoice, PayMethod, ResultClass

NOW = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)


def usd(minor: int) -> Money:
    return Money(amount_minor=minor, currency="USD")


def pay_data(body: str) -> wire.PayData:
    envelope = wire.Envelope.model_validate(wire.decode_body(body.encode()))
    assert envelope.success is True and envelope.data is not None
    return wire.PayData.model_validate(envelope.data)


def refund_data(body: str) -> wire.RefundData:
    envelope = wire.Envelope.model_validate(wire.decode_body(body.encode()))
    assert envelope.success is True and envelope.data is not None
    return wire.RefundData.model_validate(envelope.data)


# Seed 004's answers, as sent (masked ids filled in).
NATIVE_ANSWER = """{"success": true, "data": {"qr_code": "weixin://wxpay/bizpayurl?pr=6E4ptwz", "amount": 0.01,
"out_trade_no": "ORDER-4339", "result_code": "SUCCESS"}}"""
QUICK_ANSWER = """{"success": true, "data": {"amount": 0.01, "currency": "USD", "out_trade_no": "ORDER-4339",
"transaction_id": "4200123", "result_code": "SUCCESS"}}"""
REFUND_ANSWER = """{"success": true, "data": {"service_id": 30, "store_id": 109038, "refund_amount": 0.01,
"currency": "USD", "out_trade_no": "ORDER-4339", "out_refund_no": "REFUND-4339-1", "transaction_id": "420000123",
"result_code": "SUCCESS"}}"""
PAYMENT_STATUS_ANSWER = """{"success": true, "data": {"is_success": true, "service_id": 30,
"out_trade_no": "ORDER-4339", "amount": 0.01, "out_refund_no": "REFUND-4339", "currency": "USD",
"message": "Payment Successful!"}}"""
REFUND_STATUS_ANSWER = """{"success": true, "data": {"is_success": true, "service_id": 30,
"out_trade_no": "ORDER-4339", "amount": 0.01, "out_refund_no": "REFUND-4339", "currency": "USD",
"message": "Refund Successful!"}}"""


# -- the payment method convention ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "choice"),
    [
        (None, MethodChoice(PayMethod.NATIVE, WECHAT)),
        ("  ", MethodChoice(PayMethod.NATIVE, WECHAT)),
        ("NATIVE", MethodChoice(PayMethod.NATIVE, WECHAT)),
        ("native:alipay", MethodChoice(PayMethod.NATIVE, ALIPAY)),
        ("ALIPAY", MethodChoice(PayMethod.NATIVE, ALIPAY)),
        # Seed 004's quick-pay sample: auth_code 284957... (28: an Alipay code).
        ("QUICKPAY:284957123456789012", MethodChoice(PayMethod.QUICK, ALIPAY, "284957123456789012")),
        ("QUICKPAY:134957123456789012", MethodChoice(PayMethod.QUICK, WECHAT, "134957123456789012")),
        ("QUICKPAY:994957123456789012", MethodChoice(PayMethod.QUICK, WECHAT, "994957123456789012")),
        ("QUICKPAY:WECHAT:284957123456789012", MethodChoice(PayMethod.QUICK, WECHAT, "284957123456789012")),
        ("JSAPI:openid-123", MethodChoice(PayMethod.JSAPI, WECHAT, "openid-123")),
        ("JSAPI:ALIPAY:openid-123", MethodChoice(PayMethod.JSAPI, ALIPAY, "openid-123")),
    ],
)
def test_payment_method_convention(value: str | None, choice: MethodChoice) -> None:
    assert transform.parse_payment_method(value, default_wallet=WECHAT) == choice


@pytest.mark.parametrize("value", ["CARD", "NATIVE:VISA", "QUICKPAY", "QUICKPAY:", "JSAPI:PAYPAL:x", "QUICKPAY:a:b:c"])
def test_unknown_payment_methods_name_the_field(value: str) -> None:
    with pytest.raises(InputError) as refused:
        transform.parse_payment_method(value, default_wallet=WECHAT)
    assert refused.value.field == "payment_method"


@pytest.mark.parametrize(
    ("code", "wallet"),
    [("10", WECHAT), ("15", WECHAT), ("16", None), ("25", ALIPAY), ("30", ALIPAY), ("31", None), ("ab", None)],
)
def test_wallet_of_auth_code(code: str, wallet: str | None) -> None:
    assert transform.wallet_of_auth_code(code + "4957123456789012") == wallet


# -- money and time ------------------------------------------------------------------------------


def test_amounts_travel_as_exact_major_units() -> None:
    assert transform.amount_to_wire(usd(1)) == Decimal("0.01")  # the seed's "amount": 0.01
    assert transform.amount_to_wire(usd(1050)) == Decimal("10.50")
    assert transform.amount_from_wire(Decimal("0.01"), "usd") == usd(1)
    assert transform.amount_from_wire(None, "USD") is None
    assert transform.amount_from_wire(Decimal("1.00"), None) is None
    assert transform.amount_from_wire(Decimal("0.001"), "USD") is None  # not representable in USD


@pytest.mark.parametrize(
    ("minor", "rate", "total"),
    [
        (1, "2", 1),  # the seed's 0.01 at fee_rate 2: 0.0002 rounds to nothing
        (1000, "2", 1020),
        (25, "2", 26),  # 0.005 rounds half up
        (24, "2", 24),  # 0.0048 rounds to 0.00
        (1999, "1.5", 2029),  # 0.29985 -> 0.30
        (1000, "0", 1000),
    ],
)
def test_buyer_total_adds_the_fee_rate_half_up(minor: int, rate: str, total: int) -> None:
    assert transform.buyer_total(usd(minor), Decimal(rate)) == usd(total)


def test_currency_must_be_the_stores() -> None:
    with pytest.raises(CurrencyMismatchError) as refused:
        transform.require_currency(Money(amount_minor=100, currency="KHR"), "USD", field="amount")
    assert refused.value.field == "amount"


# -- codes and statuses --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("result_code", "kind"),
    [
        (None, ResultClass.SUCCESS),
        ("SUCCESS", ResultClass.SUCCESS),
        (" fail ", ResultClass.FAIL),
        ("X", ResultClass.UNKNOWN),
    ],
)
def test_result_class(result_code: str | None, kind: ResultClass) -> None:
    assert transform.result_class(result_code) is kind


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("SYSTEMERROR", CodeClass.UNKNOWN),
        ("BANKERROR", CodeClass.UNKNOWN),
        ("SOMETHING_NEW", CodeClass.UNKNOWN),
        (None, CodeClass.UNKNOWN),
        ("OUT_TRADE_NO_USED", CodeClass.CONFLICT),
        ("refund_fee_mismatch", CodeClass.CONFLICT),
        ("NOTENOUGH", CodeClass.REFUSED),
        ("ORDERPAID", CodeClass.REFUSED),
    ],
)
def test_code_classes(code: str | None, kind: CodeClass) -> None:
    assert transform.classify_code(code) is kind


def test_failures_keep_the_code_and_say_who() -> None:
    buyer = transform.provider_failure("notenough", "Balance low")
    assert (buyer.code, buyer.message, buyer.category, buyer.hard) == (
        "NOTENOUGH",
        "Balance low",
        FailureCategory.CUSTOMER,
        False,
    )
    merchant = transform.provider_failure("NOTENOUGH", None, refund=True)
    assert (merchant.category, merchant.message) == (FailureCategory.MERCHANT, "")
    assert transform.provider_failure("AUTH_CODE_INVALID", "x").hard is True
    assert transform.provider_failure("NEW_CODE", "x").category is FailureCategory.PROVIDER


@pytest.mark.parametrize(
    ("word", "status"),
    [
        ("SUCCESS", PaymentStatus.SUCCEEDED),
        ("REFUND", PaymentStatus.SUCCEEDED),
        ("notpay", PaymentStatus.PENDING),
        ("USERPAYING", PaymentStatus.PENDING),
        ("CLOSED", PaymentStatus.CLOSED),
        ("REVOKED", PaymentStatus.CLOSED),
        ("PAYERROR", PaymentStatus.DECLINED),
        ("SOMETHING", PaymentStatus.PENDING),
        (None, PaymentStatus.PENDING),
    ],
)
def test_payment_status_words(word: str | None, status: PaymentStatus) -> None:
    assert transform.payment_status(word) is status


@pytest.mark.parametrize(
    ("word", "status"),
    [
        ("SUCCESS", RefundStatus.SUCCEEDED),
        ("PROCESSING", RefundStatus.PENDING),
        ("CHANGE", RefundStatus.PENDING),
        ("REFUNDCLOSE", RefundStatus.FAILED),
        (None, RefundStatus.PENDING),
    ],
)
def test_refund_status_words(word: str | None, status: RefundStatus) -> None:
    assert transform.refund_status(word) is status


# -- requests ------------------------------------------------------------------------------------


def create(amount: Money | None = None, method: str | None = None) -> CreatePayment:
    return CreatePayment(
        idempotency_key="ORDER-4339",
        merchant_order_id="o-1",
        amount=amount or usd(1),
        description="Coffee",
        customer=Customer(customer_id="c-1"),
        payment_method=method,
        requested_at=NOW,
    )


def test_native_pay_body_is_the_seeds() -> None:
    request = create()
    choice = transform.parse_payment_method(None, default_wallet=WECHAT)
    body = transform.pay_request(
        request,
        choice,
        service_id=transform.service_id(choice.wallet, wechat_service_id=30, alipay_service_id=2),
        store_id="12345",
        currency="USD",
        fee_rate=Decimal(2),
        sub_store_id="12345",
        sub_store_name="Test Store",
        native_auth_code="284123",
    )
    assert json.loads(wire.encode_body(body)) == {
        "service_id": 30,
        "store_id": "12345",
        "sub_store_id": 12345,  # a number, as the seed prints it
        "sub_store_name": "Test Store",
        "amount": 0.01,
        "fee_rate": 2,
        "auth_code": "284123",
        "out_trade_no": "ORDER-4339",
    }
    assert b'"amount":0.01' in wire.encode_body(body)


@pytest.mark.parametrize(
    ("value", "sent"),
    [("109038", 109038), ("0", 0), ("0123", "0123"), ("S-12", "S-12"), ("١٢", "١٢")],
)
def test_ids_the_seed_prints_as_numbers_go_as_numbers_when_nothing_is_lost(value: str, sent: int | str) -> None:
    assert wire.seed_number(value) == sent and type(wire.seed_number(value)) is type(sent)


def test_status_checks_send_the_store_as_a_number_like_the_seed() -> None:
    body = wire.PaymentStatusRequest(store_id=wire.seed_number("109038"), out_trade_no="ORDER-4339")
    assert wire.encode_body(body) == b'{"store_id":109038,"out_trade_no":"ORDER-4339"}'


def test_quick_pay_body_carries_the_buyers_code_and_its_wallets_service() -> None:
    choice = transform.parse_payment_method("QUICKPAY:284957123456789012", default_wallet=WECHAT)
    body = transform.pay_request(
        create(method="QUICKPAY:284957123456789012"),
        choice,
        service_id=transform.service_id(choice.wallet, wechat_service_id=30, alipay_service_id=2),
        store_id="10001",
        currency="USD",
        fee_rate=Decimal(2),
        sub_store_id=None,
        sub_store_name="Foo Bar",
        native_auth_code="ignored",
    )
    assert (body.service_id, body.auth_code, body.sub_store_id) == (2, "284957123456789012", None)


def test_a_request_in_another_currency_is_refused_before_sending() -> None:
    with pytest.raises(CurrencyMismatchError):
        transform.pay_request(
            create(Money(amount_minor=100, currency="KHR")),
            MethodChoice(PayMethod.NATIVE, WECHAT),
            service_id=30,
            store_id="1",
            currency="USD",
            fee_rate=Decimal(0),
            sub_store_id=None,
            sub_store_name=None,
        )


def test_refund_body_is_the_seeds() -> None:
    refund = CreateRefund(
        idempotency_key="REFUND-4339-1",
        payment=PaymentRef(idempotency_key="ORDER-4339"),
        amount=usd(1),
        reason="....",
        requested_at=NOW,
    )
    body = transform.refund_request(refund, service_id=30, store_id="109038", currency="USD")
    assert json.loads(wire.encode_body(body)) == {
        "service_id": 30,
        "store_id": "109038",
        "refund_amount": 0.01,
        "out_trade_no": "ORDER-4339",
        "out_refund_no": "REFUND-4339-1",
        "reason": "....",
    }


# -- the seed's answers as outcomes --------------------------------------------------------------


def test_native_answer_is_pending_with_a_qr_code() -> None:
    outcome = transform.payment_outcome(
        pay_data(NATIVE_ANSWER), idempotency_key="ORDER-4339", currency="USD", fee_rate=Decimal(2)
    )
    assert outcome.status is PaymentStatus.PENDING
    assert outcome.customer_action is not None
    assert outcome.customer_action.kind is CustomerActionKind.QR
    assert outcome.customer_action.qr == "weixin://wxpay/bizpayurl?pr=6E4ptwz"
    # No currency in the answer: the store's. 0.01 plus 2 % of it (0.0002) is still 0.01 for the buyer.
    assert (outcome.amount, outcome.paid_amount) == (usd(1), usd(1))
    assert outcome.completed_at is None


def test_quick_answer_without_a_state_stays_pending_with_its_transaction() -> None:
    outcome = transform.payment_outcome(
        pay_data(QUICK_ANSWER), idempotency_key="ORDER-4339", currency="USD", fee_rate=Decimal(2)
    )
    assert outcome.status is PaymentStatus.PENDING
    assert outcome.provider_reference == "4200123"
    assert outcome.customer_action is None


def test_payment_status_answer_is_success() -> None:
    outcome = transform.payment_outcome(
        pay_data(PAYMENT_STATUS_ANSWER), idempotency_key="ORDER-4339", currency="USD", fee_rate=Decimal(2)
    )
    assert outcome.status is PaymentStatus.SUCCEEDED
    assert outcome.amount == usd(1)
    assert transform.payment_answer_ids(pay_data(PAYMENT_STATUS_ANSWER)) == {
        "out_trade_no": "ORDER-4339",
        "transaction_id": None,
        "currency": "USD",
    }


def test_paid_status_with_a_fee_and_completion_time() -> None:
    data = wire.PayData(
        out_trade_no="ORDER-1",
        transaction_id="42001",
        amount=Decimal("10.00"),
        currency="USD",
        fee_rate=Decimal(2),
        trade_state="SUCCESS",
        time_end="2026-01-15 17:00:00",
    )
    outcome = transform.payment_outcome(
        data, idempotency_key="ORDER-1", currency="USD", fee_rate=Decimal(0), time_zone=timezone(timedelta(hours=7))
    )
    # The answer's own fee_rate (2 %) wins over the setting's.
    assert (outcome.amount, outcome.paid_amount) == (usd(1000), usd(1020))
    assert outcome.completed_at == NOW
    assert outcome.provider_status == "SUCCESS"


def test_amount_that_includes_the_fee() -> None:
    data = wire.PayData(
        total_amount=Decimal("10.20"), fee_amount=Decimal("0.20"), currency="USD", trade_state="SUCCESS"
    )
    outcome = transform.payment_outcome(
        data, idempotency_key="k", currency="USD", fee_rate=Decimal(2), amount_includes_fee=True
    )
    assert (outcome.amount, outcome.paid_amount) == (usd(1000), usd(1020))


def test_refusal_without_a_state_states_the_orders_fate() -> None:
    failure = transform.provider_failure("NOTENOUGH", "Balance low")
    outcome = transform.payment_outcome(
        wire.PayData(out_trade_no="ORDER-1"),
        idempotency_key="ORDER-1",
        currency="USD",
        fee_rate=Decimal(0),
        requested=usd(500),
        failure=failure,
        default_status=PaymentStatus.DECLINED,
    )
    assert outcome.status is PaymentStatus.DECLINED
    assert outcome.failure == failure
    assert outcome.amount == usd(500)


def test_userpaying_is_not_a_refusal() -> None:
    outcome = transform.payment_outcome(
        wire.PayData(out_trade_no="ORDER-1"),
        idempotency_key="ORDER-1",
        currency="USD",
        fee_rate=Decimal(0),
        failure=transform.provider_failure("USERPAYING", "enter PIN"),
        default_status=PaymentStatus.DECLINED,
    )
    assert outcome.status is PaymentStatus.PENDING
    assert outcome.failure is None
    assert outcome.provider_status is None


def test_payerror_state_carries_its_err_code() -> None:
    data = wire.PayData(trade_state="PAYERROR", err_code="NOTENOUGH", message="Balance low")
    outcome = transform.payment_outcome(data, idempotency_key="k", currency="USD", fee_rate=Decimal(0))
    assert outcome.status is PaymentStatus.DECLINED
    assert outcome.failure is not None and outcome.failure.code == "NOTENOUGH"


def test_refund_answer_is_pending_until_a_status_says_otherwise() -> None:
    data = refund_data(REFUND_ANSWER)
    outcome = transform.refund_outcome(data, idempotency_key="REFUND-4339-1", currency="USD", requested=usd(1))
    assert outcome.status is RefundStatus.PENDING
    assert (outcome.amount, outcome.payment_reference) == (usd(1), "420000123")
    assert transform.refund_answer_ids(data, currency="USD") == {
        "out_trade_no": "ORDER-4339",
        "out_refund_no": "REFUND-4339-1",
        "refund_amount": usd(1),
        "currency": "USD",
    }


def test_refund_status_answer_is_success_with_its_amount() -> None:
    outcome = transform.refund_outcome(refund_data(REFUND_STATUS_ANSWER), idempotency_key="REFUND-4339", currency=None)
    assert outcome.status is RefundStatus.SUCCEEDED
    assert outcome.amount == usd(1)


def test_refund_status_word_wins_over_is_success() -> None:
    data = wire.RefundData(is_success=True, refund_status="REFUNDCLOSE", refund_amount=Decimal("2.00"))
    outcome = transform.refund_outcome(data, idempotency_key="R", currency="USD")
    assert outcome.status is RefundStatus.FAILED
    assert outcome.amount == usd(200)
