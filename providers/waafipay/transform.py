"""Pure mapping between the engine's normalized models (providers/base.py) and WaafiPay's wire models.

The only place that knows WaafiPay's formats: amounts, timestamps, ``referenceId`` rules, response and
state vocabularies, decline texts, and the provider references this client hands out.

Answers (reference A3, A5):

* success is ``responseCode`` "2001" **and** ``errorCode`` "0", and for operations that carry one, a
  ``params.state`` of "approved" in any case. "2001" with state "DECLINED" (or "failed"/"rejected") is a
  decline; "2001" with any other or no state is no statement at all;
* any other ``responseCode`` is a definite refusal, carried as a :class:`ProviderFailure` that keeps the
  provider's code and text; "2001" with an ``errorCode`` other than "0" (or no code at all) is unreadable
  and the outcome unknown.

Declines (reference A5, A9.4): most arrive as ``5206/E10205`` with the issuer's free text (often Somali)
inside ``responseMsg``. :func:`decline_reason` reads that text into a :class:`DeclineReason`, which
decides the failure's category and whether it is hard (dunning stops) or soft (a later retry may pass).

Provider references (``PaymentOutcome.provider_reference``) say which flow made the payment, because
later operations depend on it and the client keeps no state: ``purchase:<transactionId>``
(``API_PURCHASE``), ``preauth:<transactionId>`` (``API_PREAUTHORIZE``), ``hpp:<orderId>`` (``HPP_PURCHASE``,
where the transaction exists only once the payer pays). A bare ``<transactionId>`` is a transaction found
by inquiry whose flow is not known.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from enum import StrEnum
from typing import TypedDict
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

from pydantic import SecretStr

from billing.errors import InputError, InvalidAmountError, MoneyError
from billing.money import Money
from providers.base import (
    CreatePayment,
    CustomerAction,
    CustomerActionKind,
    FailureCategory,
    PaymentOutcome,
    PaymentRef,
    PaymentStatus,
    ProviderFailure,
)
from providers.waafipay import wire
from providers.waafipay.timing import HPP_PAYER_WINDOW

SUCCESS_CODE = "2001"
NO_ERROR = "0"
#: ``RCS_TRAN_ALREADY_CANCELLED``: a reversal or release that already happened.
ALREADY_CANCELLED_CODE = "5202"
#: ``RCS_TRAN_NOT_FOUND``.
NOT_FOUND_CODE = "5213"
#: Our own code for a refund refused before sending: the payment is not an approved transaction.
NOT_REFUNDABLE_CODE = "NOT_REFUNDABLE"
#: ``HPP_GETTRANINFO`` ``tranStatusId`` of an approved transaction (the only documented id).
APPROVED_TRAN_STATUS_ID = "3"

#: WaafiPay keeps two decimals and truncates the rest (reference A8).
WIRE_DECIMALS = 2
MAX_REFERENCE_ID_LENGTH = 50
MAX_INVOICE_ID_LENGTH = 50
MAX_DESCRIPTION_LENGTH = 255
#: ``referenceId``: letters, digits, dash, underscore and dot, 1-50 characters (reference A8).
REFERENCE_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,50}")
#: The payer's wallet number: MSISDN with country code, no ``+`` (``payerInfo.accountNo``, 10-20 digits).
ACCOUNT_NO_PATTERN = re.compile(r"[0-9]{10,20}")
DEFAULT_REFUND_DESCRIPTION = "Refund"
DEFAULT_CANCEL_DESCRIPTION = "Cancelled"
DEFAULT_COMMIT_DESCRIPTION = "Commit"
#: The query parameter carrying our ``referenceId`` on HPP callback URLs (see :func:`tag_callback_url`).
CALLBACK_REFERENCE_PARAM = "referenceId"

#: Namespace of the deterministic ``requestId`` of money-moving calls.
_REQUEST_ID_NAMESPACE = uuid.UUID("6f1d7c52-5a0e-4f4e-9a51-3c2b0d8e7a10")


# -- provider references ------------------------------------------------------------------------


class FlowKind(StrEnum):
    """Which WaafiPay flow made a payment; it decides how to cancel and refund it."""

    PURCHASE = "purchase"  # API_PURCHASE: reversal by API_CANCELPURCHASE, refund by API_REFUND
    PREAUTH = "preauth"  # API_PREAUTHORIZE: COMMIT / CANCEL, refund by API_REFUND once committed
    HPP = "hpp"  # HPP_PURCHASE: refund by HPP_REFUNDPURCHASE; no cancel


@dataclass(frozen=True)
class ProviderReference:
    """A parsed ``provider_reference``: the flow (None when unknown) and WaafiPay's id."""

    kind: FlowKind | None
    value: str

    def __str__(self) -> str:
        return self.value if self.kind is None else f"{self.kind.value}:{self.value}"


def format_reference(kind: FlowKind | None, value: str) -> str:
    return str(ProviderReference(kind, value))


def parse_reference(text: str | None) -> ProviderReference | None:
    """``purchase:123`` → (PURCHASE, "123"); ``123`` → (None, "123"); empty → None."""
    if not text or not text.strip():
        return None
    prefix, separator, rest = text.strip().partition(":")
    if separator:
        try:
            return ProviderReference(FlowKind(prefix), rest) if rest else None
        except ValueError:
            pass
    return ProviderReference(None, text.strip())


# -- identifiers --------------------------------------------------------------------------------


def require_reference_id(value: str | None, *, field: str) -> str:
    """The ``referenceId`` itself, or InputError naming ``field`` when WaafiPay would refuse it."""
    if not value:
        raise InputError("is required", field=field)
    if len(value) > MAX_REFERENCE_ID_LENGTH:
        raise InputError(
            f"is {len(value)} characters; a WaafiPay referenceId has at most {MAX_REFERENCE_ID_LENGTH}", field=field
        )
    if REFERENCE_ID_PATTERN.fullmatch(value) is None:
        raise InputError(
            "may only hold letters, digits, '-', '_' and '.' (WaafiPay referenceId)",
            field=field,
        )
    return value


def invoice_id(merchant_order_id: str) -> str:
    """``transactionInfo.invoiceId``: the merchant's order id, refused (not cut) when longer than 50."""
    if len(merchant_order_id) > MAX_INVOICE_ID_LENGTH:
        raise InputError(
            f"is {len(merchant_order_id)} characters; WaafiPay's invoiceId holds at most {MAX_INVOICE_ID_LENGTH}",
            field="merchant_order_id",
        )
    return merchant_order_id


def request_id(service: str, key: str) -> str:
    """The ``requestId`` of a money-moving call: a UUID derived from the service and the request's key,
    so a retry of the same attempt sends the same ``requestId``."""
    return str(uuid.uuid5(_REQUEST_ID_NAMESPACE, f"{service}\x1f{key}"))


def wire_id(value: str) -> wire.WireId:
    """An id WaafiPay documents as a number: digits without a leading zero as a JSON number, else text."""
    text = value.strip()
    if text.isascii() and text.isdigit() and (text == "0" or not text.startswith("0")) and len(text) < 19:
        return int(text)
    return text


def account_number(phone: str | None, *, field: str = "customer.phone") -> str:
    """The payer's wallet number as WaafiPay wants it: ``+252 61-111 1111`` → ``252611111111``."""
    if not phone or not phone.strip():
        raise InputError(
            "is required for a WaafiPay wallet push: the payer's wallet number with country code, such as 252611111111",
            field=field,
        )
    text = re.sub(r"[\s().-]", "", phone)
    if text.startswith("+"):
        text = text[1:]
    elif text.startswith("00"):
        text = text[2:]
    if ACCOUNT_NO_PATTERN.fullmatch(text) is None:
        raise InputError(
            "must be a wallet number with country code and 10-20 digits, such as 252611111111", field=field
        )
    return text


def description(text: str | None, default: str) -> str:
    value = (text or "").strip() or default
    return value[:MAX_DESCRIPTION_LENGTH]


# -- money --------------------------------------------------------------------------------------


def amount_to_wire(amount: Money, *, field: str = "amount") -> Decimal:
    """Major units with at most two decimals: ``10.50``, ``1000`` (DJF), ``1.25`` (1.250 KWD).

    WaafiPay truncates amounts to two decimals (10.237 → 10.23). An amount it would truncate is refused
    with InvalidAmountError naming ``field`` rather than charging less than asked.
    """
    if not amount.is_positive():
        raise InvalidAmountError(f"must be positive, got {amount}", field=field)
    value = amount.to_decimal()
    kept = value.quantize(Decimal(1).scaleb(-WIRE_DECIMALS), rounding=ROUND_DOWN)
    if kept != value:
        raise InvalidAmountError(
            f"{amount} has more than {WIRE_DECIMALS} decimals; WaafiPay would truncate it to "
            f"{format(kept, 'f')} {amount.currency}",
            field=field,
        )
    if amount.exponent <= WIRE_DECIMALS:
        return Decimal(amount.to_decimal_string())
    return kept


def amount_from_wire(text: str | None, currency: str | None) -> Money | None:
    """Exact Money from WaafiPay's decimal text (``"10.0"``, ``"2"``), or None when absent or unusable."""
    if not text or not currency:
        return None
    try:
        value = Decimal(text.strip())
        if not value.is_finite():
            return None
        return Money.from_decimal(value, currency.strip().upper())
    except (InvalidOperation, MoneyError, ValueError):
        return None


# -- timestamps ---------------------------------------------------------------------------------


def format_timestamp(moment: datetime, *, field: str = "requested_at") -> str:
    """``2026-02-28 10:05:58.250``: UTC, three fractional digits (WaafiPay does not validate it)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InputError("must be timezone-aware (UTC)", field=field)
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%d %H:%M:%S.") + f"{utc.microsecond // 1000:03d}"


def parse_timestamp(text: str | None) -> datetime | None:
    """``2024-11-05 12:19:05.05`` (trailing zeros dropped; UTC assumed) → aware datetime, or None."""
    if not text or not text.strip():
        return None
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


# -- answers and states -------------------------------------------------------------------------


class AnswerClass(StrEnum):
    SUCCESS = "SUCCESS"  # 2001 and errorCode "0": read params (and their state)
    REFUSED = "REFUSED"  # any other responseCode: a definite refusal
    UNKNOWN = "UNKNOWN"  # no responseCode, or 2001 with an error code: nothing can be concluded


def classify_answer(envelope: wire.ResponseEnvelope) -> AnswerClass:
    code = (envelope.response_code or "").strip()
    if not code:
        return AnswerClass.UNKNOWN
    if code == SUCCESS_CODE:
        return AnswerClass.SUCCESS if (envelope.error_code or "").strip() == NO_ERROR else AnswerClass.UNKNOWN
    return AnswerClass.REFUSED


class StateClass(StrEnum):
    APPROVED = "APPROVED"
    DECLINED = "DECLINED"
    UNKNOWN = "UNKNOWN"


_APPROVED_STATES = frozenset({"approved"})
_DECLINED_STATES = frozenset({"declined", "failed", "rejected"})


def classify_state(state: str | None) -> StateClass:
    """``params.state``, any case: "APPROVED"/"approved", "DECLINED"/"failed"/"rejected", else unknown."""
    word = (state or "").strip().lower()
    if word in _APPROVED_STATES:
        return StateClass.APPROVED
    if word in _DECLINED_STATES:
        return StateClass.DECLINED
    return StateClass.UNKNOWN


# -- declines -----------------------------------------------------------------------------------


class DeclineReason(StrEnum):
    """Why WaafiPay or the wallet issuer refused, read from codes and the issuer's text."""

    USER_ABORTED = "USER_ABORTED"  # the payer rejected or cancelled the push / page
    INSUFFICIENT_BALANCE = "INSUFFICIENT_BALANCE"
    WRONG_PIN = "WRONG_PIN"
    DIALOG_TIMEOUT = "DIALOG_TIMEOUT"  # the payer did not answer in time (push dialog, HPP session)
    SUBSCRIBER_NOT_FOUND = "SUBSCRIBER_NOT_FOUND"  # no wallet behind the number
    NO_ROUTE = "NO_ROUTE"  # the number belongs to no supported operator
    ISSUER_DECLINED = "ISSUER_DECLINED"  # an issuer refusal with no recognised reason
    MERCHANT_SETUP = "MERCHANT_SETUP"  # credentials, service or payment method not enabled
    MERCHANT_BALANCE = "MERCHANT_BALANCE"  # the merchant wallet cannot fund the operation
    TRANSACTION_STATE = "TRANSACTION_STATE"  # already cancelled, not found
    UNCLASSIFIED = "UNCLASSIFIED"


#: (category, hard) per reason. Hard: retrying the same payer later is pointless (dunning stops).
DECLINE_FAILURES: dict[DeclineReason, tuple[FailureCategory, bool]] = {
    DeclineReason.USER_ABORTED: (FailureCategory.CUSTOMER, False),
    DeclineReason.INSUFFICIENT_BALANCE: (FailureCategory.CUSTOMER, False),
    DeclineReason.WRONG_PIN: (FailureCategory.CUSTOMER, False),
    DeclineReason.DIALOG_TIMEOUT: (FailureCategory.CUSTOMER, False),
    DeclineReason.SUBSCRIBER_NOT_FOUND: (FailureCategory.CUSTOMER, True),
    DeclineReason.NO_ROUTE: (FailureCategory.CUSTOMER, True),
    DeclineReason.ISSUER_DECLINED: (FailureCategory.PROVIDER, False),
    DeclineReason.MERCHANT_SETUP: (FailureCategory.MERCHANT, True),
    DeclineReason.MERCHANT_BALANCE: (FailureCategory.MERCHANT, False),
    DeclineReason.TRANSACTION_STATE: (FailureCategory.MERCHANT, True),
    DeclineReason.UNCLASSIFIED: (FailureCategory.PROVIDER, False),
}

#: Response codes with a meaning of their own (reference A5). 5206 is the generic issuer decline whose
#: reason is in the text, so the text is read first for it.
_CODE_REASONS: dict[str, DeclineReason] = {
    "5202": DeclineReason.TRANSACTION_STATE,  # RCS_TRAN_ALREADY_CANCELLED
    "5213": DeclineReason.TRANSACTION_STATE,  # RCS_TRAN_NOT_FOUND
    "5035": DeclineReason.MERCHANT_SETUP,  # RCS_FAILED_TOCREATE_ORDER
    "5222": DeclineReason.MERCHANT_SETUP,  # "Operation is not Allowed at this moment"
    "5301": DeclineReason.MERCHANT_SETUP,  # RCS_INVALID_HPPKEY
    "5302": DeclineReason.MERCHANT_SETUP,  # RCS_INVALID_HPPTOKEN
    "5303": DeclineReason.MERCHANT_SETUP,  # RCS_INVALID_HPPRESULTTOKEN
    "5304": DeclineReason.MERCHANT_SETUP,  # RCS_HPP_MERCHANT_REFERENCEID_MISMATCH
    "5305": DeclineReason.MERCHANT_SETUP,  # RCS_HPP_REQUESTID_MISMATCH
    "5306": DeclineReason.USER_ABORTED,  # RCS_HPP_USERACTION_CANCELLED
    "5307": DeclineReason.DIALOG_TIMEOUT,  # RCS_HPPTOKEN_EXPIRED
    "5308": DeclineReason.MERCHANT_SETUP,  # RCS_HPP_SUBSCRIPTION_ISNOT_ENABLED
    "5309": DeclineReason.DIALOG_TIMEOUT,  # RCS_HPP_USERACTION_TIMEOUT
    "5310": DeclineReason.USER_ABORTED,  # RCS_USER_REJECTED
    "50333": DeclineReason.MERCHANT_BALANCE,  # RCS_ACC_INSUFFICIENT_BALANCE (merchant wallet)
}
_ERROR_CODE_REASONS: dict[str, DeclineReason] = {
    "E101073": DeclineReason.INSUFFICIENT_BALANCE,
    "E10207": DeclineReason.TRANSACTION_STATE,
    "E10206": DeclineReason.TRANSACTION_STATE,
    "E10222": DeclineReason.MERCHANT_SETUP,
    "E10235": DeclineReason.MERCHANT_SETUP,
}
GENERIC_ISSUER_CODE = "5206"

#: Issuer texts (English and Somali, reference A5), matched on lower case with ``_`` read as a space.
_TEXT_REASONS: tuple[tuple[re.Pattern[str], DeclineReason], ...] = (
    (
        re.compile(r"insufficient|not sufficient|kuguma filna|not enough (balance|funds|money)"),
        DeclineReason.INSUFFICIENT_BALANCE,
    ),
    (re.compile(r"\bpin\b|sirta ah"), DeclineReason.WRONG_PIN),
    (re.compile(r"timed ?out|time ?out|timeout|expired"), DeclineReason.DIALOG_TIMEOUT),
    (
        re.compile(
            r"abort|user ?rejected|rejected to authori[sz]e|customer rejected|useraction cancel"
            r"|cancell?ed by (the )?(user|customer|payer)"
        ),
        DeclineReason.USER_ABORTED,
    ),
    (re.compile(r"subscriber not found|do(es)? not exist|not registered"), DeclineReason.SUBSCRIBER_NOT_FOUND),
    (re.compile(r"no route"), DeclineReason.NO_ROUTE),
    (re.compile(r"not authz|not authori[sz]ed"), DeclineReason.MERCHANT_SETUP),
)


def decline_reason(
    text: str | None, *, response_code: str | None = None, error_code: str | None = None
) -> DeclineReason:
    """Classify a refusal: specific response codes first, then the issuer's text, then the error code."""
    code = (response_code or "").strip()
    if code in _CODE_REASONS:
        return _CODE_REASONS[code]
    words = (text or "").lower().replace("_", " ")
    for pattern, reason in _TEXT_REASONS:
        if pattern.search(words):
            return reason
    error = (error_code or "").strip().upper()
    if error in _ERROR_CODE_REASONS:
        return _ERROR_CODE_REASONS[error]
    if code == GENERIC_ISSUER_CODE or error == "E10205":
        return DeclineReason.ISSUER_DECLINED
    return DeclineReason.UNCLASSIFIED


def failure_code(response_code: str | None, error_code: str | None) -> str:
    """``5206/E10205``; just the response code when there is no error code (or it is "0")."""
    code = (response_code or "").strip() or "UNSPECIFIED"
    error = (error_code or "").strip()
    return f"{code}/{error}" if error and error != NO_ERROR else code


def provider_failure(text: str | None, *, response_code: str | None, error_code: str | None = None) -> ProviderFailure:
    """A definite refusal as a value, keeping WaafiPay's codes and text as they came."""
    reason = decline_reason(text, response_code=response_code, error_code=error_code)
    category, hard = DECLINE_FAILURES[reason]
    return ProviderFailure(
        code=failure_code(response_code, error_code), message=text or "", category=category, hard=hard
    )


def refusal_failure(envelope: wire.ResponseEnvelope) -> ProviderFailure:
    """The failure of a refused answer (any responseCode but 2001)."""
    return provider_failure(envelope.response_msg, response_code=envelope.response_code, error_code=envelope.error_code)


def state_failure(
    envelope: wire.ResponseEnvelope,
    state: str | None,
    *,
    code: str | None = None,
    detail: str | None = None,
) -> ProviderFailure:
    """The failure of a "2001" answer whose state is a decline; ``code``/``detail`` are the result's own
    (``procCode``/``procDescription`` of an HPP result) when it has them."""
    text = detail or (envelope.response_msg if envelope.response_msg != "RCS_SUCCESS" else None) or state or ""
    return provider_failure(text, response_code=code or envelope.response_code, error_code=None)


# -- callback URLs ------------------------------------------------------------------------------


def tag_callback_url(url: str, reference_id: str, *, field: str) -> str:
    """``url`` with ``referenceId=<reference_id>`` added, so an HPP redirect can be routed without a call.

    WaafiPay appends ``?hppResultToken=...`` literally (reference A6): the callback parser copes with the
    resulting second ``?``.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise InputError("must be an absolute http(s) URL", field=field)
    existing = parse_qsl(parts.query, keep_blank_values=True)
    if any(name == CALLBACK_REFERENCE_PARAM for name, _ in existing):
        return url
    tag = f"{CALLBACK_REFERENCE_PARAM}={quote(reference_id, safe='')}"
    return urlunsplit(parts._replace(query=f"{parts.query}&{tag}" if parts.query else tag))


def hpp_page_url(result: wire.HppPurchaseResult) -> str | None:
    """Where to send the payer: ``directPaymentLink``, else ``hppUrl`` with ``hppRequestId`` and
    ``referenceId`` as GET parameters (reference A6 step 2), else ``hppUrl`` alone."""
    if result.direct_payment_link:
        return result.direct_payment_link
    if not result.hpp_url:
        return None
    if not result.hpp_request_id:
        return result.hpp_url
    parts = urlsplit(result.hpp_url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), ("hppRequestId", result.hpp_request_id)]
    if result.reference_id:
        query.append(("referenceId", result.reference_id))
    encoded = "&".join(f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in query)
    return urlunsplit(parts._replace(query=encoded))


# -- requests -----------------------------------------------------------------------------------


def envelope(service: str, params: wire.WaafiPayModel, *, request_id: str, timestamp: str) -> wire.RequestEnvelope:
    return wire.RequestEnvelope(request_id=request_id, timestamp=timestamp, service_name=service, service_params=params)


def transaction_info(request: CreatePayment) -> wire.TransactionInfo:
    return wire.TransactionInfo(
        reference_id=require_reference_id(request.idempotency_key, field="idempotency_key"),
        invoice_id=invoice_id(request.merchant_order_id),
        amount=amount_to_wire(request.amount),
        currency=request.amount.currency,
        description=description(request.description, request.merchant_order_id),
    )


def purchase_params(request: CreatePayment, credentials: wire.ApiCredentials) -> wire.PurchaseParams:
    """``API_PURCHASE`` / ``API_PREAUTHORIZE`` to the payer's wallet (``customer.phone``)."""
    return wire.PurchaseParams(
        **_credentials(credentials),
        payer_info=wire.PayerInfo(account_no=account_number(request.customer.phone)),
        transaction_info=transaction_info(request),
    )


def hpp_purchase_params(
    request: CreatePayment,
    credentials: wire.HppCredentials,
    *,
    payment_method: str,
    success_url: str,
    failure_url: str,
    response_format: int,
    tag_urls: bool = True,
) -> wire.HppPurchaseParams:
    reference_id = require_reference_id(request.idempotency_key, field="idempotency_key")
    if tag_urls:
        success_url = tag_callback_url(success_url, reference_id, field="success_url")
        failure_url = tag_callback_url(failure_url, reference_id, field="failure_url")
    payer: wire.PayerInfo | None = None
    if payment_method == wire.MWALLET_ACCOUNT:
        if not request.customer.phone:
            # Seed 002: payerInfo.subscriptionId is "Required for MWALLET_ACCOUNT payment method".
            raise InputError(
                "the payer's wallet number is required for a MWALLET_ACCOUNT hosted page (payerInfo.subscriptionId)",
                field="customer.phone",
            )
        payer = wire.PayerInfo(subscription_id=account_number(request.customer.phone))
    return wire.HppPurchaseParams(
        **_hpp_credentials(credentials),
        payment_method=payment_method,
        hpp_success_callback_url=success_url,
        hpp_failure_callback_url=failure_url,
        hpp_resp_data_format=response_format,
        transaction_info=transaction_info(request),
        payer_info=payer,
    )


def cancel_purchase_params(
    credentials: wire.ApiCredentials, *, transaction_id: str, reference_id: str
) -> wire.CancelPurchaseParams:
    return wire.CancelPurchaseParams(
        **_credentials(credentials),
        transaction_id=transaction_id,
        reference_id=require_reference_id(reference_id, field="payment.idempotency_key"),
        description=DEFAULT_CANCEL_DESCRIPTION,
    )


def preauthorize_action_params(
    credentials: wire.ApiCredentials, *, transaction_id: str, reference_id: str, text: str
) -> wire.PreauthorizeActionParams:
    return wire.PreauthorizeActionParams(
        **_credentials(credentials),
        transaction_id=transaction_id,
        reference_id=require_reference_id(reference_id, field="payment.idempotency_key"),
        description=text,
    )


def api_refund_params(
    credentials: wire.ApiCredentials, *, transaction_id: str, refund_key: str, amount: Money, reason: str | None
) -> wire.RefundParams:
    """``API_REFUND``: ``referenceId`` is the refund's own key (each partial refund is its own request)."""
    return wire.RefundParams(
        **_credentials(credentials),
        transaction_id=transaction_id,
        reference_id=require_reference_id(refund_key, field="idempotency_key"),
        description=description(reason, DEFAULT_REFUND_DESCRIPTION),
        amount=amount_to_wire(amount),
    )


def hpp_refund_params(
    credentials: wire.HppCredentials,
    *,
    transaction_id: str | None,
    payment_key: str,
    amount: Money,
    reason: str | None,
) -> wire.HppRefundParams:
    """``HPP_REFUNDPURCHASE``: ``referenceId`` is the original payment's (reference A4, seed 002)."""
    return wire.HppRefundParams(
        **_hpp_credentials(credentials),
        amount=amount_to_wire(amount),
        transaction_id=wire_id(transaction_id) if transaction_id else None,
        reference_id=require_reference_id(payment_key, field="payment.idempotency_key"),
        description=description(reason, DEFAULT_REFUND_DESCRIPTION),
    )


def tran_info_params(credentials: wire.HppCredentials, *, reference_id: str) -> wire.HppTranInfoParams:
    return wire.HppTranInfoParams(
        **_hpp_credentials(credentials),
        reference_id=require_reference_id(reference_id, field="payment.idempotency_key"),
    )


def result_info_params(credentials: wire.HppCredentials, *, token: str) -> wire.HppResultInfoParams:
    if not token or not token.strip():
        raise InputError("is required", field="hpp_result_token")
    return wire.HppResultInfoParams(**_hpp_credentials(credentials), hpp_result_token=token.strip())


class _ApiAuth(TypedDict):
    merchant_uid: str
    api_user_id: wire.WireId
    api_key: SecretStr


class _HppAuth(TypedDict):
    merchant_uid: str
    store_id: wire.WireId
    hpp_key: SecretStr


def _credentials(credentials: wire.ApiCredentials) -> _ApiAuth:
    return {
        "merchant_uid": credentials.merchant_uid,
        "api_user_id": credentials.api_user_id,
        "api_key": credentials.api_key,
    }


def _hpp_credentials(credentials: wire.HppCredentials) -> _HppAuth:
    return {
        "merchant_uid": credentials.merchant_uid,
        "store_id": credentials.store_id,
        "hpp_key": credentials.hpp_key,
    }


# -- answers → outcomes -------------------------------------------------------------------------


def declined_payment(
    request: CreatePayment, failure: ProviderFailure, *, provider_status: str | None = None
) -> PaymentOutcome:
    return PaymentOutcome(
        status=PaymentStatus.DECLINED,
        idempotency_key=request.idempotency_key,
        merchant_reference=request.merchant_order_id,
        provider_status=provider_status,
        amount=request.amount,
        failure=failure,
    )


def push_outcome(
    envelope: wire.ResponseEnvelope, result: wire.PurchaseResult, *, request: CreatePayment, kind: FlowKind
) -> PaymentOutcome:
    """An approved push: SUCCEEDED for a purchase, AUTHORIZED for a pre-authorization."""
    amount = amount_from_wire(result.tx_amount, request.amount.currency) or request.amount
    return PaymentOutcome(
        status=PaymentStatus.AUTHORIZED if kind is FlowKind.PREAUTH else PaymentStatus.SUCCEEDED,
        idempotency_key=request.idempotency_key,
        provider_reference=format_reference(kind, result.transaction_id) if result.transaction_id else None,
        merchant_reference=request.merchant_order_id,
        provider_status=result.state,
        amount=amount,
        completed_at=parse_timestamp(envelope.timestamp) if kind is FlowKind.PURCHASE else None,
    )


def hpp_outcome(result: wire.HppPurchaseResult, *, request: CreatePayment, page_url: str) -> PaymentOutcome:
    """A created hosted-payment-page order: PENDING until the payer acts, with the page to open."""
    order = result.order_id or result.hpp_request_id or request.idempotency_key
    return PaymentOutcome(
        status=PaymentStatus.PENDING,
        idempotency_key=request.idempotency_key,
        provider_reference=format_reference(FlowKind.HPP, order),
        merchant_reference=request.merchant_order_id,
        amount=request.amount,
        customer_action=CustomerAction(
            kind=CustomerActionKind.REDIRECT, url=page_url, expires_at=request.requested_at + HPP_PAYER_WINDOW
        ),
    )


def tran_info_status(info: wire.TranInfo) -> PaymentStatus:
    """``HPP_GETTRANINFO`` → PaymentStatus: ``tranStatusId`` "3" or an "Approved" word is paid, a
    declined/failed/rejected word is declined, anything else pending (other ids are undocumented)."""
    words = {classify_state(info.status), classify_state(info.tran_status_desc)}
    approved = (info.tran_status_id or "").strip() == APPROVED_TRAN_STATUS_ID or StateClass.APPROVED in words
    declined = StateClass.DECLINED in words
    if approved and not declined:
        return PaymentStatus.SUCCEEDED
    if declined and not approved:
        return PaymentStatus.DECLINED
    return PaymentStatus.PENDING


def tran_info_outcome(info: wire.TranInfo, *, payment: PaymentRef) -> PaymentOutcome:
    """A payment as ``HPP_GETTRANINFO`` describes it.

    The caller's provider reference is kept (it names the flow); without one, the transaction id is used
    bare. An approved pre-authorization reads as AUTHORIZED: the status does not say whether it was
    committed, and claiming captured money that is only held would be worse than a capture refused.
    """
    status = tran_info_status(info)
    reference = parse_reference(payment.provider_reference)
    if status is PaymentStatus.SUCCEEDED and reference is not None and reference.kind is FlowKind.PREAUTH:
        status = PaymentStatus.AUTHORIZED
    word = info.status or info.tran_status_desc or info.tran_status_id
    failure = None
    if status is PaymentStatus.DECLINED:
        failure = provider_failure(word, response_code=info.tran_status_id or "DECLINED")
    provider_reference = payment.provider_reference or info.transaction_id
    return PaymentOutcome(
        status=status,
        idempotency_key=payment.idempotency_key,
        provider_reference=provider_reference,
        merchant_reference=info.invoice_id,
        provider_status=word,
        amount=amount_from_wire(info.amount or info.tran_amount, info.currency),
        failure=failure,
        completed_at=parse_timestamp(info.tran_date) if status is PaymentStatus.SUCCEEDED else None,
    )


def result_info_outcome(envelope: wire.ResponseEnvelope, info: wire.HppResultInfo) -> PaymentOutcome:
    """An HPP result (``HPP_GETRESULTINFO``): 2001 with state DECLINED is a decline (reference A3)."""
    state = classify_state(info.state)
    status = {
        StateClass.APPROVED: PaymentStatus.SUCCEEDED,
        StateClass.DECLINED: PaymentStatus.DECLINED,
    }.get(state, PaymentStatus.PENDING)
    failure = None
    if status is PaymentStatus.DECLINED:
        failure = state_failure(envelope, info.state, code=info.proc_code, detail=info.proc_description)
    transaction = info.transaction_id if info.transaction_id and info.transaction_id.strip() != "0" else None
    return PaymentOutcome(
        status=status,
        idempotency_key=info.reference_id,
        provider_reference=transaction,
        merchant_reference=info.invoice_id,
        provider_status=info.state,
        failure=failure,
        # HPP_GETRESULTINFO states no payment time; the envelope's timestamp is when it answered, which
        # would make a payment made in time look late. None: lateness then needs a confirmed close.
        completed_at=None,
    )
