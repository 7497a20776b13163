"""Pure WaafiPay mapping: amounts, ids, timestamps, answer and state classes, declines, lenient wire."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from billing.errors import InputError, InvalidAmountError
from billing.money import Money
from providers.base import FailureCategory, PaymentRef, PaymentStatus
from providers.waafipay import transform, wire
from providers.waafipay.transform import AnswerClass, DeclineReason, FlowKind, StateClass

# -- amounts ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [
        (1050, "USD", "10.50"),
        (1, "USD", "0.01"),
        (1000, "DJF", "1000"),
        (1250, "KWD", "1.25"),
        (1000, "BHD", "1.00"),
    ],
)
def test_amounts_go_out_with_at_most_two_decimals(minor: int, currency: str, text: str) -> None:
    sent = transform.amount_to_wire(Money(amount_minor=minor, currency=currency))
    assert isinstance(sent, Decimal) and format(sent, "f") == text


@pytest.mark.parametrize(("minor", "currency"), [(1255, "KWD"), (1, "BHD"), (10237, "OMR")])
def test_amounts_waafipay_would_truncate_are_refused(minor: int, currency: str) -> None:
    with pytest.raises(InvalidAmountError) as caught:
        transform.amount_to_wire(Money(amount_minor=minor, currency=currency), field="amount")
    assert caught.value.field == "amount"
    assert "truncate" in str(caught.value)


@pytest.mark.parametrize("minor", [0, -100])
def test_amounts_must_be_positive(minor: int) -> None:
    with pytest.raises(InvalidAmountError) as caught:
        transform.amount_to_wire(Money(amount_minor=minor, currency="USD"), field="refund.amount")
    assert caught.value.field == "refund.amount"


@pytest.mark.parametrize(
    ("text", "currency", "expected"),
    [
        ("10.0", "USD", Money(amount_minor=1000, currency="USD")),
        ("10.23", "usd", Money(amount_minor=1023, currency="USD")),
        ("2", "USD", Money(amount_minor=200, currency="USD")),
        ("2.0", "DJF", Money(amount_minor=2, currency="DJF")),
        ("10.237", "USD", None),
        ("abc", "USD", None),
        ("NaN", "USD", None),
        (None, "USD", None),
        ("10", None, None),
        ("10", "SLSH", None),
    ],
)
def test_amounts_come_back_exactly_or_not_at_all(
    text: str | None, currency: str | None, expected: Money | None
) -> None:
    assert transform.amount_from_wire(text, currency) == expected


# -- identifiers --------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["a", "pay_0123abc", "ORD-1.2_x", "A" * 50])
def test_reference_ids_in_the_charset_pass(value: str) -> None:
    assert transform.require_reference_id(value, field="idempotency_key") == value


@pytest.mark.parametrize("value", ["WS:6671753970", "a b", "café", "a/b", "A" * 51, "", None])
def test_reference_ids_outside_the_charset_are_refused(value: str | None) -> None:
    with pytest.raises(InputError) as caught:
        transform.require_reference_id(value, field="idempotency_key")
    assert caught.value.field == "idempotency_key"


def test_invoice_id_is_the_order_id_up_to_fifty_characters() -> None:
    assert transform.invoice_id("ORD-1") == "ORD-1"
    with pytest.raises(InputError) as caught:
        transform.invoice_id("O" * 51)
    assert caught.value.field == "merchant_order_id"


@pytest.mark.parametrize(
    ("phone", "account"),
    [
        ("252611111111", "252611111111"),
        ("+252 61 111 1111", "252611111111"),
        ("00252-61-111-1111", "252611111111"),
        ("(253) 77111111", "25377111111"),
    ],
)
def test_wallet_numbers_are_normalized(phone: str, account: str) -> None:
    assert transform.account_number(phone) == account


@pytest.mark.parametrize("phone", [None, "", "  ", "61111", "+252 61 111 111x", "２５２６１１１１１１１１"])
def test_unusable_wallet_numbers_name_the_phone(phone: str | None) -> None:
    with pytest.raises(InputError) as caught:
        transform.account_number(phone)
    assert caught.value.field == "customer.phone"


def test_request_ids_are_uuids_derived_from_service_and_key() -> None:
    first = transform.request_id("API_PURCHASE", "pay_1")
    assert str(uuid.UUID(first)) == first
    assert transform.request_id("API_PURCHASE", "pay_1") == first
    assert transform.request_id("API_PURCHASE", "pay_2") != first
    assert transform.request_id("API_REFUND", "pay_1") != first


@pytest.mark.parametrize(("text", "value"), [("1000201", 1000201), ("0123", "0123"), ("S-1", "S-1"), ("0", 0)])
def test_numeric_ids_go_out_as_numbers(text: str, value: int | str) -> None:
    assert transform.wire_id(text) == value


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("purchase:123", FlowKind.PURCHASE, "123"),
        ("preauth:9", FlowKind.PREAUTH, "9"),
        ("hpp:1185941", FlowKind.HPP, "1185941"),
        ("126895", None, "126895"),
        ("other:1", None, "other:1"),
    ],
)
def test_provider_references_name_the_flow(text: str, kind: FlowKind | None, value: str) -> None:
    reference = transform.parse_reference(text)
    assert reference is not None
    assert (reference.kind, reference.value) == (kind, value)
    assert str(reference) == text


@pytest.mark.parametrize("text", [None, "", "  ", "purchase:"])
def test_empty_references_parse_to_none(text: str | None) -> None:
    assert transform.parse_reference(text) is None


# -- timestamps ---------------------------------------------------------------------------------


def test_timestamps_go_out_in_utc_with_milliseconds() -> None:
    moment = datetime(2026, 1, 1, 8, 0, 0, 5000, tzinfo=timezone(timedelta(hours=3)))
    assert transform.format_timestamp(moment) == "2026-01-01 05:00:00.005"
    with pytest.raises(InputError) as caught:
        transform.format_timestamp(datetime(2026, 1, 1), field="requested_at")
    assert caught.value.field == "requested_at"


# -- answers and states -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "error", "expected"),
    [
        ("2001", "0", AnswerClass.SUCCESS),
        (" 2001 ", "0", AnswerClass.SUCCESS),
        ("2001", "E10205", AnswerClass.UNKNOWN),
        ("2001", None, AnswerClass.UNKNOWN),
        (None, "0", AnswerClass.UNKNOWN),
        ("", "", AnswerClass.UNKNOWN),
        ("5206", "E10205", AnswerClass.REFUSED),
        ("5202", "E10207", AnswerClass.REFUSED),
        ("5310", None, AnswerClass.REFUSED),
    ],
)
def test_answer_classes(code: str | None, error: str | None, expected: AnswerClass) -> None:
    envelope = wire.ResponseEnvelope(response_code=code, error_code=error)
    assert transform.classify_answer(envelope) is expected


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("APPROVED", StateClass.APPROVED),
        ("approved", StateClass.APPROVED),
        ("Approved ", StateClass.APPROVED),
        ("DECLINED", StateClass.DECLINED),
        ("failed", StateClass.DECLINED),
        ("rejected", StateClass.DECLINED),
        ("PENDING", StateClass.UNKNOWN),
        ("", StateClass.UNKNOWN),
        (None, StateClass.UNKNOWN),
    ],
)
def test_states_in_any_case(state: str | None, expected: StateClass) -> None:
    assert transform.classify_state(state) is expected


@pytest.mark.parametrize(
    "params",
    [{}, [], None, "oops", 7],
)
def test_params_of_every_shape_read_as_empty(params: object) -> None:
    document = {"responseCode": "5206", "errorCode": "E10205", "responseMsg": "x", "params": params}
    assert wire.ResponseEnvelope.model_validate(document).params == {}


def test_absent_params_and_numbers_are_tolerated() -> None:
    envelope = wire.ResponseEnvelope.model_validate(
        {"responseCode": 2001, "errorCode": 0, "responseMsg": "RCS_SUCCESS"}
    )
    assert (envelope.response_code, envelope.error_code, envelope.params) == ("2001", "0", {})
    assert transform.classify_answer(envelope) is AnswerClass.SUCCESS


def test_older_answers_echo_the_request_id() -> None:
    envelope = wire.ResponseEnvelope.model_validate(
        {"requestId": "RPYWP1644407026", "sessionId": None, "responseCode": "2001", "errorCode": "0"}
    )
    assert envelope.request_id == "RPYWP1644407026"
    assert envelope.response_id is None


# -- declines -----------------------------------------------------------------------------------

_ISSUER = "RCS_TRAN_FAILED_AT_ISSUER_SYSTEM ({}, TransactionId: 25446479)"


@pytest.mark.parametrize(
    ("code", "error", "text", "reason", "category", "hard"),
    [
        (
            "5206",
            "E10205",
            _ISSUER.format("STATE: rejected, ERRCODE: 4004 - User Aborted"),
            DeclineReason.USER_ABORTED,
            FailureCategory.CUSTOMER,
            False,
        ),
        (
            "5206",
            "E10205",
            _ISSUER.format("Customer rejected to authorize payment"),
            DeclineReason.USER_ABORTED,
            FailureCategory.CUSTOMER,
            False,
        ),
        ("5310", "E0", "RCS_USER_REJECTED", DeclineReason.USER_ABORTED, FailureCategory.CUSTOMER, False),
        (
            "5206",
            "E10205",
            _ISSUER.format("STATE: declined, ERRCODE: 8001 - Hadhaagaagu kuguma filna"),
            DeclineReason.INSUFFICIENT_BALANCE,
            FailureCategory.CUSTOMER,
            False,
        ),
        (
            "5206",
            "E10205",
            _ISSUER.format("Your account balance is not sufficient"),
            DeclineReason.INSUFFICIENT_BALANCE,
            FailureCategory.CUSTOMER,
            False,
        ),
        ("5206", "E101073", "payment failed", DeclineReason.INSUFFICIENT_BALANCE, FailureCategory.CUSTOMER, False),
        (
            "5206",
            "E10205",
            _ISSUER.format("Invalid PIN code"),
            DeclineReason.WRONG_PIN,
            FailureCategory.CUSTOMER,
            False,
        ),
        (
            "5206",
            "E10205",
            _ISSUER.format("Nambarka Sirta ah waa Khalad"),
            DeclineReason.WRONG_PIN,
            FailureCategory.CUSTOMER,
            False,
        ),
        (
            "5206",
            "E10205",
            _ISSUER.format("waa khalad numberka PIN-ka ah"),
            DeclineReason.WRONG_PIN,
            FailureCategory.CUSTOMER,
            False,
        ),
        (
            "5206",
            "E10205",
            _ISSUER.format("Dialog Timedout"),
            DeclineReason.DIALOG_TIMEOUT,
            FailureCategory.CUSTOMER,
            False,
        ),
        (
            "5206",
            "E10205",
            _ISSUER.format("timeout occured waiting user response"),
            DeclineReason.DIALOG_TIMEOUT,
            FailureCategory.CUSTOMER,
            False,
        ),
        ("5309", None, "RCS_HPP_USERACTION_TIMEOUT", DeclineReason.DIALOG_TIMEOUT, FailureCategory.CUSTOMER, False),
        (
            "5206",
            "E10205",
            _ISSUER.format("Receiver Subscriber not found"),
            DeclineReason.SUBSCRIBER_NOT_FOUND,
            FailureCategory.CUSTOMER,
            True,
        ),
        (
            "5206",
            "E10205",
            _ISSUER.format("User do not exist in system"),
            DeclineReason.SUBSCRIBER_NOT_FOUND,
            FailureCategory.CUSTOMER,
            True,
        ),
        ("5010", "E10101", "RCS_NO_ROUTE_FOUND", DeclineReason.NO_ROUTE, FailureCategory.CUSTOMER, True),
        (
            "5206",
            "E10205",
            _ISSUER.format("error occurred, please try again later"),
            DeclineReason.ISSUER_DECLINED,
            FailureCategory.PROVIDER,
            False,
        ),
        ("5035", "E10222", "RCS_FAILED_TOCREATE_ORDER", DeclineReason.MERCHANT_SETUP, FailureCategory.MERCHANT, True),
        (
            "5222",
            "E10235",
            "We are sorry this Operation is not Allowed at this moment",
            DeclineReason.MERCHANT_SETUP,
            FailureCategory.MERCHANT,
            True,
        ),
        (
            "5001",
            None,
            "RCS_USER_IS_NOT_AUTHZ_TO_ACCESS_API",
            DeclineReason.MERCHANT_SETUP,
            FailureCategory.MERCHANT,
            True,
        ),
        (
            "50333",
            None,
            "RCS_ACC_INSUFFICIENT_BALANCE",
            DeclineReason.MERCHANT_BALANCE,
            FailureCategory.MERCHANT,
            False,
        ),
        (
            "5202",
            "E10207",
            "RCS_TRAN_ALREADY_CANCELLED",
            DeclineReason.TRANSACTION_STATE,
            FailureCategory.MERCHANT,
            True,
        ),
        ("5213", "E10206", "RCS_TRAN_NOT_FOUND", DeclineReason.TRANSACTION_STATE, FailureCategory.MERCHANT, True),
        ("5999", "E99999", "SOMETHING_NEW", DeclineReason.UNCLASSIFIED, FailureCategory.PROVIDER, False),
    ],
)
def test_decline_classification(
    code: str, error: str | None, text: str, reason: DeclineReason, category: FailureCategory, hard: bool
) -> None:
    assert transform.decline_reason(text, response_code=code, error_code=error) is reason
    failure = transform.provider_failure(text, response_code=code, error_code=error)
    assert failure.message == text  # the provider's own text, untouched
    assert (failure.category, failure.hard) == (category, hard)


@pytest.mark.parametrize(
    ("code", "error", "expected"),
    [("5206", "E10205", "5206/E10205"), ("5310", None, "5310"), ("2001", "0", "2001"), (None, None, "UNSPECIFIED")],
)
def test_failure_codes_keep_both_provider_codes(code: str | None, error: str | None, expected: str) -> None:
    assert transform.failure_code(code, error) == expected


# -- HPP transaction info -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"tranStatusId": "3", "status": "Approved", "tranStatusDesc": "Approved"}, PaymentStatus.SUCCEEDED),
        ({"tranStatusId": "3"}, PaymentStatus.SUCCEEDED),
        ({"status": "approved"}, PaymentStatus.SUCCEEDED),
        ({"tranStatusId": "5", "status": "Declined"}, PaymentStatus.DECLINED),
        ({"tranStatusId": "4", "status": "Failed"}, PaymentStatus.DECLINED),
        ({"tranStatusId": "3", "status": "Declined"}, PaymentStatus.PENDING),
        ({"tranStatusId": "1", "status": "Initiated"}, PaymentStatus.PENDING),
        ({}, PaymentStatus.PENDING),
    ],
)
def test_transaction_statuses(fields: dict[str, str], status: PaymentStatus) -> None:
    assert transform.tran_info_status(wire.TranInfo.model_validate(fields)) is status


_TRAN_INFO = {
    "tranStatusDesc": "Approved",
    "amount": "2.0",
    "payerId": "252700000000",
    "paymentMethod": "mwallet_account",
    "tranDate": "2024-11-05 10:58:50.0",
    "currency": "USD",
    "invoiceId": "ORD-1",
    "referenceId": "pay_1",
    "tranAmount": "2.0",
    "transactionId": "126895",
    "tranStatusId": "3",
    "status": "Approved",
}


def test_transaction_info_keeps_the_callers_reference() -> None:
    info = wire.TranInfo.model_validate(_TRAN_INFO)
    outcome = transform.tran_info_outcome(info, payment=PaymentRef(idempotency_key="pay_1", provider_reference="hpp:9"))
    assert outcome.status is PaymentStatus.SUCCEEDED
    assert outcome.provider_reference == "hpp:9"
    assert outcome.amount == Money(amount_minor=200, currency="USD")
    assert outcome.merchant_reference == "ORD-1"
    assert outcome.completed_at == datetime(2024, 11, 5, 10, 58, 50, tzinfo=UTC)
    bare = transform.tran_info_outcome(info, payment=PaymentRef(idempotency_key="pay_1"))
    assert bare.provider_reference == "126895"


def test_an_approved_preauthorization_reads_as_authorized() -> None:
    info = wire.TranInfo.model_validate(_TRAN_INFO)
    outcome = transform.tran_info_outcome(
        info, payment=PaymentRef(idempotency_key="pay_1", provider_reference="preauth:77")
    )
    assert outcome.status is PaymentStatus.AUTHORIZED


# -- URLs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://shop.example/hpp/ok", "https://shop.example/hpp/ok?referenceId=pay_1"),
        ("https://shop.example/hpp/ok?id=5", "https://shop.example/hpp/ok?id=5&referenceId=pay_1"),
        ("https://shop.example/ok?referenceId=X", "https://shop.example/ok?referenceId=X"),
    ],
)
def test_callback_urls_carry_the_reference(url: str, expected: str) -> None:
    assert transform.tag_callback_url(url, "pay_1", field="success_url") == expected


def test_callback_urls_must_be_absolute() -> None:
    with pytest.raises(InputError) as caught:
        transform.tag_callback_url("/hpp/ok", "pay_1", field="failure_url")
    assert caught.value.field == "failure_url"


@pytest.mark.parametrize(
    ("fields", "url"),
    [
        (
            {"hppUrl": "https://s.test/hpp/token/AB", "directPaymentLink": "https://s.test/hpp/token/AB?r=10629"},
            "https://s.test/hpp/token/AB?r=10629",
        ),
        (
            {"hppUrl": "https://s.test/hpp/token/AB", "hppRequestId": "10629", "referenceId": "pay_1"},
            "https://s.test/hpp/token/AB?hppRequestId=10629&referenceId=pay_1",
        ),
        ({"hppUrl": "https://s.test/hpp/token/AB"}, "https://s.test/hpp/token/AB"),
        ({"orderId": "1"}, None),
    ],
)
def test_the_hosted_page_url(fields: dict[str, str], url: str | None) -> None:
    assert transform.hpp_page_url(wire.HppPurchaseResult.model_validate(fields)) == url
